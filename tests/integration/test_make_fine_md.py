"""``benchmarks/make_fine_md.py``: a few real OpenMM steps from t4l seed0, then ``neuralmd prepare``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import h5py
import mdtraj as md
import numpy as np
import pytest
from typer.testing import CliRunner

from neuralmd_cli.app import app

pytest.importorskip("openmm")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_fine_md.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_fine_md", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lag1_autocorrelation_hand_cases():
    mod = _load_script()
    alt = np.array([1.0, -1.0, 1.0, -1.0]).reshape(
        4, 1, 1
    )  # mean 0: sum d_t d_t+1 = -3, sum d^2 = 4
    assert mod.lag1_autocorrelation(alt) == pytest.approx(-0.75)
    ramp = np.array([0.0, 1.0, 2.0]).reshape(3, 1, 1)  # d = -1, 0, 1: numerator 0
    assert mod.lag1_autocorrelation(ramp) == pytest.approx(0.0)


def test_fine_md_then_prepare(refdata_dir, tmp_path, capsys):
    mod = _load_script()
    argv = ["--systems", "t4l", "--seeds", "0", "--snapshots", "5", "--interval-fs", "8",
            "--equilibrate-ps", "0.02", "--threads", "1", "--refdata", str(refdata_dir),
            "--out", str(tmp_path)]  # fmt: skip
    assert mod.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    (run,) = summary["trajectories"]
    out = tmp_path / "t4l_fine" / "seed0"
    assert run["path"] == str(out) and run["interval_ps"] == pytest.approx(0.008)
    assert sorted(p.name for p in tmp_path.joinpath("t4l_fine").iterdir()) == ["seed0"]  # no temp
    meta = json.loads((out / "meta.json").read_text())
    assert meta["timestep_fs"] == 4.0 and meta["steps_per_snapshot"] == 2

    src = refdata_dir / "t4l" / "seed0"
    traj = md.load(str(out / "traj.xtc"), top=str(out / "topology.pdb"))
    ref_top = md.load_topology(str(src / "topology.pdb"))
    assert [a.name for a in traj.topology.atoms] == [a.name for a in ref_top.atoms]
    assert traj.n_frames == 5 and traj.unitcell_vectors is None
    np.testing.assert_allclose(traj.time, np.arange(5) * 0.008, atol=1e-6)
    frozen = np.load(src / "aux.npz")["frozen"]
    ref0 = md.load_frame(str(src / "traj.xtc"), 0, top=str(src / "topology.pdb")).xyz[0]
    np.testing.assert_allclose(
        traj.xyz[:, frozen], np.broadcast_to(ref0[frozen], traj.xyz[:, frozen].shape), atol=2e-3
    )
    step = np.linalg.norm(np.diff(traj.xyz[:, ~frozen], axis=0), axis=-1)  # nm per 8 fs
    assert 0 < step.max() < 0.05 and abs(run["lag1_autocorrelation"]) <= 1

    h5 = tmp_path / "x.h5"
    r = CliRunner().invoke(app, ["prepare", str(out / "topology.pdb"), str(out / "traj.xtc"),
                                 "--ligand", str(out / "ligand.sdf"), "-o", str(h5)])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    with h5py.File(h5, "r") as f:
        (g,) = f["trajectories"].values()
        prov = json.loads(g.attrs["provenance"])
        assert prov["ligand_detection"] == "sdf-position"
        assert g.attrs["snapshot_interval_ps"] == pytest.approx(0.008, rel=1e-6)
        heavy = np.load(src / "aux.npz")["ligand_heavy_index"]
        np.testing.assert_allclose(g["lig_pos"][()], traj.xyz[:, heavy] * 10.0, atol=1e-2)
