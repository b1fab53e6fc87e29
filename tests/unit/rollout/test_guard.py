"""The divergence guard and thermal velocities, on hand-built cases."""

import numpy as np
import pytest
import torch

from neuralmd_core.errors import InputError
from neuralmd_core.rollout import GuardOptions, check_trajectory, thermal_velocity
from neuralmd_core.rollout_job import read_batch_list, shard_for_rank

START = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [3.0, 0.0, 0.0]])
BONDS = np.array([[0, 1], [1, 2]])
FAR_BACKBONE = np.array([[20.0, 0.0, 0.0], [21.0, 0.0, 0.0], [22.0, 0.0, 0.0]])


def _traj(n=5, step=0.1):
    return np.stack([START + step * (k + 1) * np.array([0.0, 1.0, 0.0]) for k in range(n)])


def test_valid_trajectory_passes():
    verdict = check_trajectory(_traj(), START, BONDS, FAR_BACKBONE, GuardOptions())
    assert verdict.valid_snapshots == 5 and verdict.reason is None


def test_nan_stops_at_first_bad_snapshot():
    traj = _traj()
    traj[3, 1, 2] = np.nan
    verdict = check_trajectory(traj, START, BONDS, FAR_BACKBONE, GuardOptions())
    assert (verdict.valid_snapshots, verdict.diverged_at_snapshot) == (3, 3)
    assert "non-finite" in verdict.reason


def test_displacement_threshold():
    traj = _traj()
    traj[2:] += np.array([6.0, 0.0, 0.0])  # rigid jump of 6 Å at snapshot 2
    verdict = check_trajectory(
        traj, START, BONDS, FAR_BACKBONE, GuardOptions(max_displacement_A=5.0)
    )
    assert verdict.diverged_at_snapshot == 2 and "moved" in verdict.reason
    ok = check_trajectory(traj, START, BONDS, FAR_BACKBONE, GuardOptions(max_displacement_A=7.0))
    assert ok.reason is None


def test_bond_stretch():
    traj = _traj()
    traj[4, 2, 0] = 1.5 + 1.5 * 1.6  # bond 1-2 at 1.6x its input length
    verdict = check_trajectory(traj, START, BONDS, FAR_BACKBONE, GuardOptions())
    assert verdict.diverged_at_snapshot == 4 and "bond 1-2" in verdict.reason


def test_backbone_clash():
    backbone = np.array([[0.0, 2.2, 0.0]])  # 1.45 Å from atom 0 once it moved 0.75 Å up
    traj = _traj(step=0.25)
    verdict = check_trajectory(traj, START, BONDS, backbone, GuardOptions())
    assert verdict.diverged_at_snapshot == 2 and "backbone" in verdict.reason


def test_thermal_velocity_matches_equipartition():
    masses = np.full(20000, 12.011)
    gen = torch.Generator().manual_seed(0)
    v = thermal_velocity(masses, 300.0, 0.5, gen)  # Å per 0.5 ps
    v_ps = v / 0.5
    # <1/2 m v^2> per component = kT/2, with 1 amu Å²/ps² = 1/418.4 kcal/mol
    ke_component = 0.5 * masses[:, None] * v_ps**2 / 418.4
    assert ke_component.mean() == pytest.approx(0.5 * 0.0019872041 * 300.0, rel=0.02)


def test_batch_list_and_sharding(tmp_path):
    lst = tmp_path / "list.tsv"
    lst.write_text(
        "# pdb\tsdf\tname\na.pdb\ta.sdf\tfirst\n\nb.pdb\tb.sdf\tsecond\nc.pdb\tc.sdf\tthird\n"
    )
    reqs = read_batch_list(lst, tmp_path / "out")
    assert [r.output.name for r in reqs] == ["first.xtc", "second.xtc", "third.xtc"]
    assert reqs[0].complex_pdb == tmp_path / "a.pdb"
    assert [r.output.stem for r in shard_for_rank(reqs, 0, 2)] == ["first", "third"]
    assert [r.output.stem for r in shard_for_rank(reqs, 1, 2)] == ["second"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("only-one-column\n")
    with pytest.raises(InputError, match="line 1"):
        read_batch_list(bad, tmp_path)
