"""Realism metrics on hand-computed cases and on real independent MD replicas."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from neuralmd_core.evaluation import realism as R
from neuralmd_core.io.writers import read_ligand_trajectory


def _complex(lt) -> R.Complex:
    return R.Complex(lt.bonds, lt.protein_heavy_xyz_A, lt.protein_heavy_res)


@pytest.fixture(scope="module")
def seeds(refdata_dir):
    d = refdata_dir / "t4l"
    return [read_ligand_trajectory(d / f"seed{k}" / "traj.xtc", d / f"seed{k}" / "topology.pdb")
            for k in (0, 1)]  # fmt: skip


@pytest.fixture(scope="module")
def gs(refdata_dir):
    d = refdata_dir / "11gs" / "seed0"
    return read_ligand_trajectory(d / "traj.xtc", d / "topology.pdb")


def _metrics(pred, ref, lt, members=tuple(R.REALISM)):
    return R.realism_metrics(pred, ref, _complex(lt), np.arange(len(pred), dtype=float), members)


def test_rigid_translation_keeps_bonds_distances_and_fluctuations(seeds):
    ref = seeds[0].lig_pos_A
    pred = ref + np.array([0.7, -0.3, 0.2])
    out = _metrics(pred, ref, seeds[0])
    ell = np.linalg.norm(ref[:, seeds[0].bonds[:, 0]] - ref[:, seeds[0].bonds[:, 1]], axis=-1)
    assert out["bond_err_A"] == pytest.approx(np.abs(ell - ell.mean(0)).mean(), abs=1e-9)
    # a rigid translation by a constant keeps every length: bond error = MD's own spread
    moved = _metrics(pred, pred, seeds[0])
    assert moved["bond_err_A"] == pytest.approx(out["bond_err_A"], abs=1e-12)
    assert out["jsd_pairs"] == pytest.approx(0.0, abs=1e-12)
    assert out["rmsf_ratio"] == pytest.approx(1.0) and out["rmsf_err"] == pytest.approx(0.0)
    assert all(out[f"msd_ratio_lag{k}"] == pytest.approx(1.0) for k in R.LAGS)
    assert out["collapse_ps"] is None
    centroid_shift = np.linalg.norm([0.7, -0.3, 0.2])
    assert out["centroid_max_A"] >= centroid_shift - 1e-9


def test_bond_err_zero_for_an_exactly_rigid_trajectory():
    rng = np.random.default_rng(0)
    mol = rng.normal(size=(5, 3)) * 1.5
    traj = np.stack([mol + rng.normal(size=3) for _ in range(30)])
    bonds = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    cx = R.Complex(bonds, np.zeros((0, 3)), np.zeros(0, int))
    out = R.realism_metrics(traj[::-1] + 2.0, traj, cx, np.arange(30.0), ["bond_err", "collapse"])
    assert out["bond_err_A"] == pytest.approx(0.0, abs=1e-12) and out["collapse_ps"] is None


def test_frozen_trajectory_has_zero_rmsf_and_msd_ratios(seeds):
    ref = seeds[0].lig_pos_A
    frozen = np.repeat(ref[79:80], 200, axis=0)
    out = _metrics(frozen, ref, seeds[0])
    assert out["rmsf_ratio"] == 0.0 and out["rmsf_err"] == pytest.approx(1.0)
    assert all(out[f"msd_ratio_lag{k}"] == 0.0 for k in R.LAGS)
    assert out["jsd_pairs"] > 0.5  # one bin against MD's spread


def test_trajectory_against_itself(gs):
    x = gs.lig_pos_A
    out = _metrics(x, x, gs)
    for col in ("jsd_pairs", "jsd_centroid", "jsd_torsions", "contact_err"):
        assert out[col] == pytest.approx(0.0, abs=1e-12), col
    for col in ("rmsf_ratio", *(f"msd_ratio_lag{k}" for k in R.LAGS)):
        assert out[col] == pytest.approx(1.0), col
    assert out["collapse_ps"] is None and out["bond_err_A"] < 0.05


def test_collapse_time_is_the_first_frame_over_half_an_angstrom():
    ref = np.zeros((10, 2, 3))
    ref[:, 1, 0] = 1.5  # one bond of 1.5 Å
    pred = ref.copy()
    pred[4:, 1, 0] = 1.5 + np.linspace(0.45, 0.9, 6)  # 0.45 (ok), 0.54 (> 0.5) at frame 5 ...
    cx = R.Complex(np.array([[0, 1]]), np.zeros((0, 3)), np.zeros(0, int))
    t = 2.0 * np.arange(10)  # 2 ps snapshots
    out = R.realism_metrics(pred, ref, cx, t, ["collapse", "bond_err"])
    assert out["collapse_ps"] == pytest.approx(10.0)
    assert out["bond_err_A"] == pytest.approx(np.linspace(0.45, 0.9, 6).sum() / 10)
    pred[7, 1] = np.nan  # a NaN frame counts as collapsed too
    assert R.realism_metrics(pred[6:], ref, cx, t[:4], ["collapse"])["collapse_ps"] == 0.0


def test_msd_hand_computed_and_ratio():
    t = np.arange(20.0)
    x = np.zeros((20, 1, 3))
    x[:, 0, 0] = 0.5 * t  # uniform motion: MSD(k) = (0.5 k)^2
    assert R.msd(x, 1) == pytest.approx(0.25) and R.msd(x, 10) == pytest.approx(25.0)
    assert R.msd(x, 20) is None
    slow = x * 0.5
    cx = R.Complex(np.zeros((0, 2), int), np.zeros((0, 3)), np.zeros(0, int))
    out = R.realism_metrics(slow, x, cx, t, ["msd", "rmsf"])
    assert all(out[f"msd_ratio_lag{k}"] == pytest.approx(0.25) for k in R.LAGS)
    assert out["rmsf_ratio"] == pytest.approx(0.5)


def test_jsd_hand_computed_and_against_scipy():
    assert R.jsd([0, 0], [1, 1], bins=2) == pytest.approx(1.0)
    assert R.jsd([3, 3], [3, 3]) == 0.0
    # p = (1/2, 1/2), q = (1, 0): 0.5 KL(p||m) + 0.5 KL(q||m), m = (3/4, 1/4)
    expected = 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25)) + 0.5 * np.log2(
        1 / 0.75
    )
    assert R.jsd([0.0, 1.0], [0.0, 0.0], bins=2, value_range=(0, 1)) == pytest.approx(expected)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.4, 1.3, size=200)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    p, q = (np.histogram(v, bins=20, range=(lo, hi))[0] for v in (a, b))
    assert R.jsd(a, b) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def test_torsions_rotatable_bonds_and_dihedral_values():
    chain = np.array([[0, 1], [1, 2], [2, 3]])
    assert R.rotatable_torsions(4, chain).tolist() == [[0, 1, 2, 3]]
    ring = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 5]])
    assert R.rotatable_torsions(6, ring).shape == (0, 4)
    ring_with_tail = np.vstack([ring, [[0, 6], [6, 7]]])  # ring–C6 is rotatable, C6–C7 is not
    assert R.rotatable_torsions(8, ring_with_tail).tolist() == [[1, 0, 6, 7]]
    trans = np.array([[[1, 1, 0], [0, 0, 0], [0, 0, 1.5], [-1, -1, 1.5]]], float)
    gauche = np.array([[[1, 0, 0], [0, 0, 0], [0, 0, 1.5], [0, 1, 1.5]]], float)
    assert abs(R.dihedrals(trans, [[0, 1, 2, 3]])[0, 0]) == pytest.approx(np.pi)
    assert abs(R.dihedrals(gauche, [[0, 1, 2, 3]])[0, 0]) == pytest.approx(np.pi / 2)
    assert R.nonbonded_pairs(4, chain).tolist() == [[0, 2], [0, 3], [1, 3]]


def test_contact_fractions_hand_computed():
    protein = np.array([[0.0, 0, 0], [10.0, 0, 0], [10.0, 1, 0]])
    res = np.array([0, 1, 1])
    lig = np.zeros((4, 1, 3))
    lig[:, 0, 0] = [1.0, 3.0, 8.0, 20.0]  # near residue 0, near 0, near 1, nowhere
    f = R.contact_fractions(lig, protein, res)
    assert f.tolist() == [[0.5, 0.25]]


def test_floor_is_first_half_against_second_half(seeds):
    ref = seeds[0]
    t = ref.time_ps
    both = R.with_floor(ref.lig_pos_A, ref.lig_pos_A, _complex(ref), t - t[0], t)
    direct = _metrics(ref.lig_pos_A[:50], ref.lig_pos_A[50:], ref)
    assert list(both)[:2] == ["bond_err_A", "floor_bond_err_A"]
    for col, value in direct.items():
        assert both[f"floor_{col}"] == pytest.approx(value, nan_ok=True), col


def test_independent_md_replicas_are_md_like(seeds):
    """T4L seed 1 against seed 0: independent MD is within the targets and under the floor."""
    pred, ref = seeds[1], seeds[0]
    out = R.with_floor(pred.lig_pos_A, ref.lig_pos_A, _complex(ref), pred.time_ps, ref.time_ps)
    assert 0.8 <= out["rmsf_ratio"] <= 1.25
    assert out["jsd_pairs"] < out["floor_jsd_pairs"]
    assert out["bond_err_A"] < 0.05 and out["collapse_ps"] is None
    assert 0.67 <= out["msd_ratio_lag1"] <= 1.5


def test_combine_over_trajectories():
    rows = [{"rmsf_ratio": 1.0, "collapse_ps": None, "centroid_max_A": 1.0},
            {"rmsf_ratio": 0.5, "collapse_ps": 7.0, "centroid_max_A": 3.0},
            {"rmsf_ratio": None, "collapse_ps": 4.0, "centroid_max_A": 2.0}]  # fmt: skip
    assert R.combine(rows) == {"rmsf_ratio": 0.75, "collapse_ps": 4.0, "centroid_max_A": 3.0}


def test_split_metrics():
    paired, real = R.split_metrics("mae,realism")
    assert paired == ("mae",) and real == tuple(R.REALISM)
    assert R.split_metrics("mae,clashes") == (("mae", "clashes"), ())
    assert R.split_metrics("rmsf_ratio,msd_ratio_lag1,bond_err_A,clashes") == (
        (), ("rmsf", "msd", "bond_err", "clashes"))  # fmt: skip
    with pytest.raises(ValueError, match="'speed'.*realism"):
        R.split_metrics("mae,speed")
    with pytest.raises(ValueError, match="no metric"):
        R.split_metrics(" , ")
