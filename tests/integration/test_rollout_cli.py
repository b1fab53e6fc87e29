"""`neuralmd rollout` end to end: real PDB/SDF in, trajectories out, read back by MDAnalysis and
mdtraj; equivariance of the whole pipeline; the divergence guard; samples, batches, velocities;
bad inputs. The checkpoints are tiny untrained models built in conftest.py (not the bundled one).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import MDAnalysis as mda
import mdtraj as md
import numpy as np
import pytest
import torch
from rdkit import Chem
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from neuralmd_cli.app import app
from neuralmd_core.data.prepare import system_from_pdb_sdf
from neuralmd_core.dynamics.registry import method_class
from neuralmd_core.errors import InputError
from neuralmd_core.rollout import predict
from neuralmd_core.rollout_job import with_history
from neuralmd_core.training.checkpoint import load_method

runner = CliRunner()
SNAPSHOTS = 4
XTC_PRECISION_A = 0.01  # XTC stores 1e-3 nm


@pytest.fixture(scope="module")
def t4l(t4l_seed0: Path) -> tuple[Path, Path]:
    return t4l_seed0 / "topology.pdb", t4l_seed0 / "ligand.sdf"


@pytest.fixture(scope="module")
def gs11(refdata_dir: Path) -> tuple[Path, Path]:
    d = refdata_dir / "11gs" / "seed0"
    return d / "topology.pdb", d / "ligand.sdf"


def _rollout(*args) -> object:
    return runner.invoke(app, ["rollout", *map(str, args), "--device", "cpu"])


def _ok(*args) -> object:
    result = _rollout(*args)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result


def _heavy(sdf: Path) -> tuple[list[str], np.ndarray]:
    """Heavy-atom element symbols and coordinates (Å) of an SDF, read by RDKit."""
    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    idx = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    pos = mol.GetConformer().GetPositions()[idx]
    return [mol.GetAtomWithIdx(i).GetSymbol() for i in idx], pos


def _protein(pdb: Path) -> mda.AtomGroup:
    """The input's protein atoms, selected by MDAnalysis (its ligand and waters excluded)."""
    return mda.Universe(str(pdb)).select_atoms("protein")


# ---------------------------------------------------------------- round trip, every format


@pytest.mark.parametrize("ext", [".xtc", ".dcd", ".trr", ".nc", ".h5", ".pdb"])
def test_every_format_reads_back_in_mdanalysis_and_mdtraj(
    ext, t4l, ode_ckpt, ckpt_interval_ps, tmp_path
):
    pdb, sdf = t4l
    out = tmp_path / f"traj{ext}"
    result = _ok(pdb, sdf, "-o", out, "--model", ode_ckpt, "--snapshots", SNAPSHOTS)
    assert str(out) in result.stdout
    top = tmp_path / ("traj.top.pdb" if ext == ".pdb" else "traj.pdb")
    assert top.is_file() and out.is_file()
    elements, lig0 = _heavy(sdf)
    prot = _protein(pdb)
    n_atoms = prot.n_atoms + len(elements)
    frames = SNAPSHOTS + 1
    times = np.arange(frames) * ckpt_interval_ps
    stores_time = ext in (".xtc", ".trr", ".nc", ".h5")

    t = md.load(str(out)) if ext in (".h5", ".pdb") else md.load(str(out), top=str(top))
    assert (t.n_frames, t.n_atoms) == (frames, n_atoms)
    if stores_time:
        np.testing.assert_allclose(t.time, times, atol=1e-4)
    lig = t.topology.select("resname TMP")
    assert [t.topology.atom(i).element.symbol for i in lig] == elements
    np.testing.assert_allclose(t.xyz[0, lig] * 10, lig0, atol=XTC_PRECISION_A)  # frame 0 = input
    np.testing.assert_allclose(  # the protein is rigid and unchanged, in every frame
        t.xyz[:, : prot.n_atoms] * 10, np.broadcast_to(prot.positions, (frames, prot.n_atoms, 3)),
        atol=XTC_PRECISION_A,
    )  # fmt: skip
    assert np.abs(t.xyz[-1, lig] - t.xyz[0, lig]).max() > 1e-3  # the ligand moved

    if ext == ".h5":  # MDAnalysis has no reader for mdtraj's HDF5 (documented in docs/rollout.md)
        return
    u = mda.Universe(str(out)) if ext == ".pdb" else mda.Universe(str(top), str(out))
    assert (u.trajectory.n_frames, u.atoms.n_atoms) == (frames, n_atoms)
    if stores_time:
        np.testing.assert_allclose([ts.time for ts in u.trajectory], times, atol=1e-3)
    ulig = u.select_atoms("resname TMP")
    assert [e.capitalize() for e in ulig.elements] == elements
    up = u.atoms[: prot.n_atoms]  # residues, names, chains and elements survive for viewers
    assert list(up.resnames) == list(prot.resnames) and list(up.names) == list(prot.names)
    assert list(up.resids) == list(prot.resids) and list(up.chainIDs) == list(prot.chainIDs)
    assert [e.capitalize() for e in up.elements] == [e.capitalize() for e in prot.elements]
    u.trajectory[-1]
    np.testing.assert_allclose(ulig.positions, t.xyz[-1, lig] * 10, atol=XTC_PRECISION_A)


def test_ligand_resname_option_and_second_complex(gs11, ode_ckpt, tmp_path):
    pdb, sdf = gs11
    out = tmp_path / "gs.xtc"
    _ok(pdb, sdf, "-o", out, "--model", ode_ckpt, "--snapshots", 2, "--ligand-resname", "gsh")
    u = mda.Universe(str(tmp_path / "gs.pdb"), str(out))
    elements, _ = _heavy(sdf)
    assert u.select_atoms("resname GSH").n_atoms == len(elements) == 39
    assert u.select_atoms("resname LIG").n_atoms == 0  # the input's own ligand is not written
    assert u.atoms.n_atoms == _protein(pdb).n_atoms + 39


# ---------------------------------------------------------------- file == in-memory prediction


def test_xtc_matches_in_memory_prediction(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    out = tmp_path / "traj.xtc"
    _ok(pdb, sdf, "-o", out, "--model", ode_ckpt, "--snapshots", SNAPSHOTS, "--seed", 3)
    method, _ = load_method(ode_ckpt)
    system = system_from_pdb_sdf(pdb, sdf)[0]
    zero = [np.zeros((system.num_atoms, 3))]
    (pred,) = predict(method, [system], SNAPSHOTS, 1, 3, "cpu", zero)
    t = md.load(str(out), top=str(tmp_path / "traj.pdb"))
    lig = t.topology.select("resname TMP")
    expected = np.concatenate([system.lig_pos[-1:], pred[0]])
    assert np.abs(expected[-1] - expected[0]).max() > 0.05  # a real motion, not the input pose
    np.testing.assert_allclose(t.xyz[:, lig] * 10, expected, atol=XTC_PRECISION_A / 2 + 1e-4)


# ---------------------------------------------------------------- equivariance


def _rotated_inputs(pdb: Path, sdf: Path, rot: np.ndarray, shift: np.ndarray, folder: Path):
    """A rotated + translated copy of the complex (mdtraj, all atoms) and of the SDF (RDKit)."""
    t = md.load(str(pdb))
    t.xyz = ((t.xyz[0] * 10 @ rot.T + shift) / 10)[None].astype(np.float32)
    t.save_pdb(str(folder / "rot.pdb"))
    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    conf = mol.GetConformer()
    new = conf.GetPositions() @ rot.T + shift
    for i, p in enumerate(new):
        conf.SetAtomPosition(i, p.tolist())
    Chem.MolToMolFile(mol, str(folder / "rot.sdf"))
    return folder / "rot.pdb", folder / "rot.sdf"


def test_rotating_and_translating_inputs_moves_the_whole_trajectory(
    t4l, ckpt_dir, make_ckpt, tmp_path
):
    pdb, sdf = t4l
    model = make_ckpt(ckpt_dir / "ode_strong.pt", force_scale=0.3)  # ~1 Å of motion
    rot = Rotation.from_euler("zyx", [40, -70, 25], degrees=True).as_matrix()
    shift = np.array([12.0, -7.5, 30.0])
    rpdb, rsdf = _rotated_inputs(pdb, sdf, rot, shift, tmp_path)
    args = ("--model", model, "--snapshots", 6)
    _ok(pdb, sdf, "-o", tmp_path / "a.xtc", *args)
    _ok(rpdb, rsdf, "-o", tmp_path / "b.xtc", *args)
    a = md.load(str(tmp_path / "a.xtc"), top=str(tmp_path / "a.pdb"))
    b = md.load(str(tmp_path / "b.xtc"), top=str(tmp_path / "b.pdb"))
    assert a.n_atoms == b.n_atoms
    lig = a.topology.select("resname TMP")
    moved = a.xyz[:, lig] * 10 @ rot.T + shift
    assert np.abs(moved[-1] - moved[0]).max() > 0.5
    # inputs rounded to 1e-3 Å (PDB) / 1e-4 Å (SDF), outputs to 0.01 Å (XTC), float32 model
    np.testing.assert_allclose(b.xyz[:, lig] * 10, moved, atol=0.03)
    np.testing.assert_allclose(b.xyz[:, : lig[0]] * 10, a.xyz[:, : lig[0]] * 10 @ rot.T + shift,
                               atol=0.03)  # fmt: skip


# ---------------------------------------------------------------- divergence guard


def test_guard_stops_a_diverging_model_and_exits_3(t4l, ckpt_dir, make_ckpt, tmp_path):
    pdb, sdf = t4l
    wild = make_ckpt(ckpt_dir / "wild.pt", force_scale=1e4)
    out = tmp_path / "traj.xtc"
    result = _rollout(pdb, sdf, "-o", out, "--model", wild, "--snapshots", 10, "--format", "json")
    assert result.exit_code == 3, result.stderr
    (record,) = json.loads(result.stdout)
    status = json.loads((tmp_path / "traj.status.json").read_text())
    assert status["diverged_at_snapshot"] == record["diverged_at_snapshot"] == 0
    assert "moved" in status["reason"]
    t = md.load(str(out), top=str(tmp_path / "traj.pdb"))
    assert t.n_frames == status["snapshots_written"] == 1  # only the valid frames (the input)
    (line,) = result.stderr.strip().splitlines()  # stderr says which trajectory, where and why
    assert line.startswith("neuralmd: error: ") and str(out) in line
    assert "diverged at snapshot 0" in line and "moved" in line and "traj.status.json" in line


def test_guard_thresholds_are_options(t4l, ckpt_dir, make_ckpt, tmp_path):
    """An untrained model at full force scale drifts away; each threshold decides where it stops."""
    pdb, sdf = t4l
    drifting = make_ckpt(ckpt_dir / "drift.pt", force_scale=1.0)
    base = (pdb, sdf, "--model", drifting, "--snapshots", 8)
    loose = ("--max-bond-stretch", 1e6, "--min-backbone-distance", 1e-3)
    free = _rollout(*base, "-o", tmp_path / "free.xtc", *loose, "--max-displacement", 1e6)
    assert free.exit_code == 0, free.stderr
    t = md.load(str(tmp_path / "free.xtc"), top=str(tmp_path / "free.pdb"))
    lig = t.topology.select("resname TMP")
    steps = np.linalg.norm(np.diff(t.xyz[:, lig] * 10, axis=0), axis=-1).max(-1)  # Å per snapshot
    assert not (tmp_path / "free.status.json").exists()
    limit = float(np.median(steps))
    first = int(np.argmax(steps > limit + XTC_PRECISION_A))
    capped = _rollout(*base, "-o", tmp_path / "cap.xtc", *loose, "--max-displacement", limit)
    assert capped.exit_code == 3
    status = json.loads((tmp_path / "cap.status.json").read_text())
    assert status["diverged_at_snapshot"] == first and "moved" in status["reason"]
    assert md.load(str(tmp_path / "cap.xtc"), top=str(tmp_path / "cap.pdb")).n_frames == first + 1
    bonds = _rollout(*base, "-o", tmp_path / "bond.xtc", "--max-displacement", 1e6)
    assert bonds.exit_code == 3 and "stretched" in bonds.stdout


# ---------------------------------------------------------------- samples


def test_samples_are_distinct_and_reproducible_per_seed(t4l, ckpt_dir, make_ckpt, tmp_path):
    pdb, sdf = t4l
    sde = make_ckpt(ckpt_dir / "sde.pt", "neuralmd-sde")
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        folder = tmp_path / name
        _ok(pdb, sdf, "-o", folder / "traj.xtc", "--model", sde, "--snapshots", 3,
            "--samples", 4, "--seed", seed)  # fmt: skip
        assert sorted(p.name for p in folder.glob("traj_*.xtc")) == [
            f"traj_{k}.xtc" for k in range(4)
        ]
        assert not (folder / "traj.xtc").exists()
        runs[name] = [
            md.load(str(folder / f"traj_{k}.xtc"), top=str(folder / f"traj_{k}.pdb")).xyz
            for k in range(4)
        ]
        assert all(x.shape[0] == 4 for x in runs[name])
    a, b, c = runs["a"], runs["b"], runs["c"]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(a[i][1:] - a[j][1:]).max() > 1e-3, (i, j)
    for k in range(4):  # the same seed twice: identical files
        np.testing.assert_array_equal(a[k], b[k])
        same = [(tmp_path / run / f"traj_{k}.xtc").read_bytes() for run in ("a", "b")]
        assert same[0] == same[1]
        np.testing.assert_array_equal(a[k][0], c[k][0])  # same input pose
        assert np.abs(a[k][1:] - c[k][1:]).max() > 1e-3  # another seed, another trajectory


def test_denoising_ld_samples(t4l, ckpt_dir, make_ckpt, tmp_path):
    pdb, sdf = t4l
    dld = make_ckpt(
        ckpt_dir / "dld.pt",
        "denoising-ld",
        options={"substeps": 2, "sigma_max": 0.1, "data_sigma": 0.05},
    )
    _ok(pdb, sdf, "-o", tmp_path / "t.nc", "--model", dld, "--snapshots", 2, "--samples", 2)
    x0, x1 = (md.load(str(tmp_path / f"t_{k}.nc"), top=str(tmp_path / f"t_{k}.pdb")).xyz
              for k in range(2))  # fmt: skip
    assert x0.shape == x1.shape and np.abs(x0[1:] - x1[1:]).max() > 1e-3


# ---------------------------------------------------------------- batches


def test_batch_list_equals_single_runs(t4l, gs11, ode_ckpt, tmp_path, monkeypatch):
    lst = tmp_path / "list.tsv"
    lst.write_text(
        "# pdb\tsdf\tname\n"
        f"{t4l[0]}\t{t4l[1]}\tt4l\n{gs11[0]}\t{gs11[1]}\tgs\n"
    )  # fmt: skip
    args = ("--model", ode_ckpt, "--snapshots", SNAPSHOTS)
    result = _ok("--batch", lst, "-o", tmp_path / "out", *args, "--format", "json")
    assert len(json.loads(result.stdout)) == 2
    for name, (pdb, sdf) in (("t4l", t4l), ("gs", gs11)):
        _ok(pdb, sdf, "-o", tmp_path / "single" / f"{name}.xtc", *args)
        batched = md.load(
            str(tmp_path / "out" / f"{name}.xtc"), top=str(tmp_path / "out" / f"{name}.pdb")
        )
        single = md.load(str(tmp_path / "single" / f"{name}.xtc"),
                         top=str(tmp_path / "single" / f"{name}.pdb"))  # fmt: skip
        assert batched.n_atoms == single.n_atoms and batched.n_frames == SNAPSHOTS + 1
        # float32 round-off may flip the last XTC digit
        np.testing.assert_allclose(batched.xyz, single.xyz, atol=1.01e-3)
    # under torchrun, rank 1 of 2 takes every second complex
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    _ok("--batch", lst, "-o", tmp_path / "rank1", *args)
    assert sorted(p.name for p in (tmp_path / "rank1").glob("*.xtc")) == ["gs.xtc"]


# ---------------------------------------------------------------- initial velocity


@pytest.fixture(scope="module")
def free_ckpt(ckpt_dir: Path, make_ckpt) -> Path:
    """Zero force, no velocity network, no friction: x_k = x_0 + k·v_0 exactly (Euler or not)."""
    options = {"velocity_net": False}
    if "friction" in method_class("neuralmd-ode").Options.model_fields:
        options["friction"] = False  # the paper's purely Newtonian dv/dt = F/m
    return make_ckpt(ckpt_dir / "free.pt", force_scale=0.0, options=options)


def _ligand_xyz(out: Path) -> np.ndarray:
    t = md.load(str(out), top=str(out.with_suffix(".pdb")))
    return t.xyz[:, t.topology.select("not protein")] * 10


def test_init_velocity_modes(t4l, t4l_seed0, free_ckpt, ckpt_interval_ps, tmp_path):
    pdb, sdf = t4l
    # free flight: atoms move independently, so bonds stretch; only the guard's NaN check stays
    loose = ("--max-bond-stretch", 1e6, "--max-displacement", 1e6, "--min-backbone-distance", 1e-3)
    base = (pdb, sdf, "--model", free_ckpt, "--snapshots", 3, "--seed", 5, *loose)
    _ok(*base, "-o", tmp_path / "zero.xtc")
    zero = _ligand_xyz(tmp_path / "zero.xtc")
    np.testing.assert_allclose(zero, np.broadcast_to(zero[0], zero.shape), atol=1e-6)

    # Maxwell-Boltzmann σ = sqrt(kT/m): carbon at 1 K ≈ 0.26 Å/ps, i.e. ≈ 0.5 Å per 2 ps snapshot
    thermal = ("--init-velocity", "thermal", "--temperature")
    _ok(*base, "-o", tmp_path / "th1.xtc", *thermal, 1)
    _ok(*base, "-o", tmp_path / "th4.xtc", *thermal, 4)
    v1 = np.diff(_ligand_xyz(tmp_path / "th1.xtc"), axis=0)
    v4 = np.diff(_ligand_xyz(tmp_path / "th4.xtc"), axis=0)
    assert 0.1 < np.abs(v1).max() < 3.0
    np.testing.assert_allclose(v1, np.broadcast_to(v1[0], v1.shape), atol=0.011)  # constant v
    np.testing.assert_allclose(v4, 2 * v1, atol=0.03)  # same seed, σ ∝ sqrt(T)

    traj = md.load(str(t4l_seed0 / "traj.xtc"), top=str(t4l_seed0 / "topology.pdb"))
    ref = traj.xyz[-2:, traj.topology.select("resname TMP and not element H")] * 10
    _ok(*base, "-o", tmp_path / "ft.xtc", "--init-velocity", "from-traj",
        "--velocity-traj", t4l_seed0 / "traj.xtc", "--velocity-top", pdb)  # fmt: skip
    ft = _ligand_xyz(tmp_path / "ft.xtc")
    dt_ps = float(np.diff(traj.time[-2:])[0])  # 1 ps frames, rescaled to the model's interval
    velocity = (ref[1] - ref[0]) * ckpt_interval_ps / dt_ps
    assert dt_ps != ckpt_interval_ps
    expected = ft[0] + np.arange(4)[:, None, None] * velocity
    assert np.abs(ref[1] - ref[0]).max() > 0.05
    np.testing.assert_allclose(ft, expected, atol=0.02)


def test_init_velocity_changes_a_real_rollout(t4l, t4l_seed0, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    # an untrained velocity network may amplify v0: only the velocity's effect is tested here
    loose = ("--max-bond-stretch", 1e6, "--max-displacement", 1e6, "--min-backbone-distance", 1e-3)
    base = (pdb, sdf, "--model", ode_ckpt, "--snapshots", 2, *loose)
    _ok(*base, "-o", tmp_path / "zero.xtc")
    _ok(*base, "-o", tmp_path / "th.xtc", "--init-velocity", "thermal", "--temperature", 1)
    _ok(*base, "-o", tmp_path / "ft.xtc", "--init-velocity", "from-traj",
        "--velocity-traj", t4l_seed0 / "traj.xtc", "--velocity-top", pdb)  # fmt: skip
    zero = _ligand_xyz(tmp_path / "zero.xtc")
    for name in ("th", "ft"):
        assert np.abs(_ligand_xyz(tmp_path / f"{name}.xtc")[1:] - zero[1:]).max() > 0.02, name


# ---------------------------------------------------------------- bad inputs


class _Payload:
    """Unpickling this would create ``marker`` (a checkpoint must never run code)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def _bad_cases(tmp_path: Path, pdb: Path, sdf: Path, ckpt: Path) -> dict:
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    flat = tmp_path / "flat.sdf"
    mol = Chem.MolFromMolFile(str(sdf))
    mol.RemoveAllConformers()
    Chem.MolToMolFile(mol, str(flat))  # RDKit writes a 2D (all-zero) block
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\x00\x01" * 40)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "neuralmd-checkpoint", "x": _Payload(tmp_path / "PWNED")}, evil)
    out = tmp_path / "out" / "traj.xtc"
    return {
        "missing pdb": ((tmp_path / "nope.pdb", sdf, "-o", out, "--model", ckpt), "nope.pdb"),
        "empty sdf": ((pdb, empty, "-o", out, "--model", ckpt), "empty.sdf"),
        "2d sdf": ((pdb, flat, "-o", out, "--model", ckpt), "flat.sdf"),
        "garbage ckpt": ((pdb, sdf, "-o", out, "--model", garbage), "garbage.pt"),
        "pickle ckpt": ((pdb, sdf, "-o", out, "--model", evil), "evil.pt"),
        "extension": ((pdb, sdf, "-o", out.with_suffix(".xyz"), "--model", ckpt), "traj.xyz"),
    }


@pytest.mark.parametrize(
    "case", ["missing pdb", "empty sdf", "2d sdf", "garbage ckpt", "pickle ckpt", "extension"]
)
def test_bad_inputs_fail_with_one_line_and_exit_2(case, t4l, ode_ckpt, tmp_path):
    args, name = _bad_cases(tmp_path, *t4l, ode_ckpt)[case]
    before = sorted(tmp_path.rglob("*"))
    result = _rollout(*args)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("neuralmd: error: ") and name in line, line
    assert "Traceback" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing written (an empty out/ at most)
    assert not (tmp_path / "PWNED").exists()


def test_existing_output_needs_force(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    out = tmp_path / "traj.xtc"
    out.write_bytes(b"precious")
    args = (pdb, sdf, "-o", out, "--model", ode_ckpt, "--snapshots", 2)
    result = _rollout(*args)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("neuralmd: error: ") and "traj.xtc" in line and "--force" in line
    assert out.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == [
        "traj.xtc"
    ]
    _ok(*args, "--force")
    assert md.load(str(out), top=str(tmp_path / "traj.pdb")).n_frames == 3


def test_outputs_never_overwrite_inputs_or_an_existing_topology(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    complex_pdb = tmp_path / "complex.pdb"
    complex_pdb.write_bytes(pdb.read_bytes())
    original = complex_pdb.read_bytes()
    for extra in ((), ("--force",)):  # complex.xtc would write its topology onto complex.pdb
        result = _rollout(complex_pdb, sdf, "-o", tmp_path / "complex.xtc", "--model", ode_ckpt,
                          "--snapshots", 1, *extra)  # fmt: skip
        assert result.exit_code == 2
        assert "complex.pdb" in result.stderr and "input" in result.stderr
        assert complex_pdb.read_bytes() == original
        assert sorted(p.name for p in tmp_path.iterdir()) == ["complex.pdb"]
    (tmp_path / "traj.pdb").write_text("mine\n")  # a lone topology is an output too
    result = _rollout(pdb, sdf, "-o", tmp_path / "traj.xtc", "--model", ode_ckpt)
    assert result.exit_code == 2 and "traj.pdb" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "traj.pdb").read_text() == "mine\n"


def test_thermal_velocity_refused_for_the_overdamped_sde(
    t4l, t4l_seed0, ckpt_dir, make_ckpt, tmp_path
):
    pdb, sdf = t4l
    sde = make_ckpt(ckpt_dir / "sde.pt", "neuralmd-sde")
    velocity = {"thermal": (), "from-traj": ("--velocity-traj", t4l_seed0 / "traj.xtc")}
    for mode, extra in velocity.items():
        result = _rollout(pdb, sdf, "-o", tmp_path / "t.xtc", "--model", sde, "--init-velocity",
                          mode, "--snapshots", 2, *extra)  # fmt: skip
        assert result.exit_code == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--init-velocity" in lines[0] and "overdamped" in lines[0]
        assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- what the PDB says of the ligand


def _moved_sdf(sdf: Path, shift, out: Path) -> Path:
    """A copy of ``sdf`` with every atom moved by ``shift`` (Å), written by RDKit."""
    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    conf = mol.GetConformer()
    for i, p in enumerate(conf.GetPositions() + np.asarray(shift, dtype=float)):
        conf.SetAtomPosition(i, p.tolist())
    Chem.MolToMolFile(mol, str(out))
    return out


def _with_second_copy(pdb: Path, out: Path, shift=(15.0, 0.0, 0.0)) -> Path:
    """``pdb`` plus a second TMP, chain B, residue 205, moved by ``shift`` Å (PDB text)."""
    lines = pdb.read_text().splitlines(keepends=True)
    copy = []
    for k, ln in enumerate(ln for ln in lines if ln.startswith("HETATM") and ln[17:20] == "TMP"):
        xyz = [float(ln[30 + 8 * i : 38 + 8 * i]) + shift[i] for i in range(3)]
        copy.append(f"HETATM{2001 + k:5d}{ln[11:21]}B 205    "
                    + "".join(f"{v:8.3f}" for v in xyz) + ln[54:])  # fmt: skip
    end = next(i for i, ln in enumerate(lines) if ln.startswith("CONECT"))
    out.write_text("".join(lines[:end] + copy + ["TER\n"] + lines[end:]))
    return out


def _lig0(out: Path) -> np.ndarray:
    """The ligand's heavy atoms (Å) in frame 0 of a rollout output."""
    return _ligand_xyz(out)[0]


LOOSE = ("--max-bond-stretch", 1e6, "--max-displacement", 1e6, "--min-backbone-distance", 1e-3)


def test_sdf_away_from_the_pdb_ligand_warns_and_starts_from_the_sdf(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    moved = _moved_sdf(sdf, (0.0, 0.0, 3.0), tmp_path / "moved.sdf")
    out = tmp_path / "traj.xtc"
    result = _ok(pdb, moved, "-o", out, "--model", ode_ckpt, "--snapshots", 1, *LOOSE)
    (line,) = result.stderr.strip().splitlines()  # one warning, naming both files and the gap
    assert str(moved) in line and str(pdb) in line and "TMP105 (chain A, resid 105)" in line
    assert "RMSD 3.00 Å" in line and "SDF's pose is the start" in line
    np.testing.assert_allclose(_lig0(out), _heavy(moved)[1], atol=XTC_PRECISION_A)
    quiet = _ok(pdb, sdf, "-o", tmp_path / "same.xtc", "--model", ode_ckpt, "--snapshots", 1)
    assert quiet.stderr == ""  # the SDF at the PDB's own pose: nothing to say


def test_two_copies_of_the_ligand_are_told_apart_by_chain_or_resid(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    two = _with_second_copy(pdb, tmp_path / "two.pdb")
    moved = _moved_sdf(sdf, (0.0, 0.0, 3.0), tmp_path / "moved.sdf")
    base = ("--model", ode_ckpt, "--snapshots", 1, *LOOSE)
    # the SDF sits on one copy: that one, silently
    same = _ok(two, sdf, "-o", tmp_path / "a.xtc", *base)
    assert same.stderr == ""
    # at neither copy: which one is meant cannot be told, even by name
    for extra in ((), ("--ligand-resname", "TMP")):
        result = _rollout(two, moved, "-o", tmp_path / "b.xtc", *base, *extra)
        assert result.exit_code == 2 and result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert "two.pdb" in line and "several copies" in line
        assert "TMP105 (chain A, resid 105)" in line and "TMP205 (chain B, resid 205)" in line
        assert "--ligand-chain" in line and "--ligand-resid" in line
        assert not (tmp_path / "b.xtc").exists()
    for extra, named, rmsd in ((("--ligand-chain", "A"), "chain A, resid 105", 3.0),
                               (("--ligand-resid", 205), "chain B, resid 205", 15.3)):  # fmt: skip
        out = tmp_path / f"{extra[0][2:]}.xtc"
        result = _ok(two, moved, "-o", out, *base, *extra)
        (line,) = result.stderr.strip().splitlines()
        assert named in line and f"RMSD {rmsd:.1f}" in line, line
        np.testing.assert_allclose(_lig0(out), _heavy(moved)[1], atol=XTC_PRECISION_A)
        u = mda.Universe(str(out.with_suffix(".pdb")))
        assert u.select_atoms("resname TMP").n_atoms == 8  # the moving ligand; no copy written


def _checkpoint_with_cutoff(path: Path, cutoff: float) -> Path:
    """A tiny untrained NeuralMD-ODE whose network sees residues within ``cutoff`` Å."""
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 1, "cutoff": cutoff}
    method = build_method("neuralmd-ode", net, {})
    meta = {"config": {"model": "neuralmd-ode", "network": net, "method": {}}, "task": "single",
            "splits": {"task": "single", "train": ["t4l_seed0"], "val": ["t4l_seed0"]},
            "snapshot_interval_ps": 2.0, "seed": 0, "epoch": 0,
            "best": {"epoch": 0, "val_mae_A": float("nan")}, "dataset": {}}  # fmt: skip
    save_checkpoint(path, method, meta)
    return path


def test_a_ligand_out_of_the_models_reach_is_refused(t4l, ode_ckpt, tmp_path):
    """The distance is the checkpoint's cutoff: 5 Å for the tiny model, 8 Å for another."""
    pdb, sdf = t4l
    system = system_from_pdb_sdf(pdb, sdf)[0]
    ca, lig = system.backbone[:, 1].astype(float), system.lig_pos[0].astype(float)
    away = lig.mean(0) - ca.mean(0)
    away /= np.linalg.norm(away)

    def nearest_ca(d: float) -> float:
        return float(np.linalg.norm((lig + d * away)[:, None] - ca[None], axis=-1).min())

    d = next(d for d in np.arange(0.0, 30.0, 0.1) if nearest_ca(d) > 6.0)
    assert 6.0 < nearest_ca(d) < 7.0
    far = _moved_sdf(sdf, d * away, tmp_path / "far.sdf")
    result = _rollout(pdb, far, "-o", tmp_path / "a.xtc", "--model", ode_ckpt)
    assert result.exit_code == 2 and not (tmp_path / "a.xtc").exists()
    (line,) = result.stderr.strip().splitlines()
    assert "far.sdf" in line and "no pocket residue (CA) within 5 Å" in line
    assert "Å from the nearest protein atom" in line
    wide = _checkpoint_with_cutoff(tmp_path / "wide.pt", 8.0)
    _ok(pdb, far, "-o", tmp_path / "b.xtc", "--model", wide, "--snapshots", 1, *LOOSE)


def _wrap_into_box(pdb: Path, sdf: Path, folder: Path) -> tuple[Path, Path, float]:
    """The complex wrapped into a cubic box (CRYST1) whose faces cut through the protein, the
    ligand's atoms all wrapped to the far side: what an MD engine writes for a snapshot."""
    t = md.load(str(pdb))
    xyz = t.xyz[0].astype(np.float64) * 10
    elements, lig = _heavy(sdf)
    edge = float(np.ptp(xyz, axis=0).max()) + 15.0  # no periodic image overlaps another
    origin = lig.max(0) + 0.5  # every ligand atom lies below it: all are wrapped by +edge

    def wrap(points: np.ndarray) -> np.ndarray:
        return origin + np.mod(points - origin, edge)

    t.xyz = (wrap(xyz) / 10)[None].astype(np.float32)
    t.unitcell_vectors = (np.eye(3) * edge / 10)[None].astype(np.float32)
    t.save_pdb(str(folder / "wrapped.pdb"))
    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    conf = mol.GetConformer()
    for i, p in enumerate(wrap(conf.GetPositions())):
        conf.SetAtomPosition(i, p.tolist())
    Chem.MolToMolFile(mol, str(folder / "wrapped.sdf"))
    return folder / "wrapped.pdb", folder / "wrapped.sdf", edge


def test_a_pbc_wrapped_complex_is_imaged_like_prepare_does(ode_ckpt, tmp_path):
    examples = Path(__file__).resolve().parents[2] / "examples" / "t4l"
    pdb, sdf = examples / "complex.pdb", examples / "ligand.sdf"
    wpdb, wsdf, edge = _wrap_into_box(pdb, sdf, tmp_path)
    wrapped = md.load(str(wpdb))
    assert wrapped.unitcell_vectors is not None
    ca = wrapped.xyz[0, wrapped.topology.select("name CA")] * 10
    assert np.linalg.norm(np.diff(ca, axis=0), axis=-1).max() > edge / 2  # the chain is split
    assert np.abs(_heavy(wsdf)[1] - _heavy(sdf)[1]).min() > edge - 1  # the ligand imaged away
    args = ("--model", ode_ckpt, "--snapshots", 2)
    _ok(pdb, sdf, "-o", tmp_path / "plain.xtc", *args)
    _ok(wpdb, wsdf, "-o", tmp_path / "imaged.xtc", *args)
    a = md.load(str(tmp_path / "plain.xtc"), top=str(tmp_path / "plain.pdb"))
    b = md.load(str(tmp_path / "imaged.xtc"), top=str(tmp_path / "imaged.pdb"))
    assert a.n_atoms == b.n_atoms and a.n_frames == b.n_frames == 3
    shift = (b.xyz[0, 0] - a.xyz[0, 0]) * 10  # one lattice vector moves the whole complex
    np.testing.assert_allclose(shift / edge, np.round(shift / edge), atol=1e-3)
    np.testing.assert_allclose(b.xyz[0] * 10, a.xyz[0] * 10 + shift, atol=1.5 * XTC_PRECISION_A)
    np.testing.assert_allclose(b.xyz * 10, a.xyz * 10 + shift, atol=0.03)  # and so the rollout


# ---------------------------------------------------------------- output and feedback


def test_status_table_shows_a_dash_for_missing_values(t4l, ode_ckpt, tmp_path):
    pdb, sdf = t4l
    result = _ok(pdb, sdf, "-o", tmp_path / "t.xtc", "--model", ode_ckpt, "--snapshots", 1)
    header, rule, row = result.stdout.strip().splitlines()
    assert "diverged_at_snapshot" in header and "None" not in result.stdout
    assert row.split()[-2:] == ["-", "-"]


def test_every_option_has_help_with_units():
    import typer

    command = typer.main.get_command(app).commands["rollout"]
    helps = {p.name: (p.help or "") for p in command.params}
    assert all(helps.values()), [name for name, text in helps.items() if not text]
    assert "ps" in helps["snapshots"] and "interval" in helps["snapshots"]
    assert "Å" in helps["max_displacement"] and "K" in helps["temperature"]
    assert helps["seed"] and helps["verbose"] and "progress" in helps["quiet"]
    opts = {o for p in command.params for o in p.opts}
    assert {"-q", "--quiet", "-v", "--ligand-chain", "--ligand-resid"} <= opts
    assert runner.invoke(app, ["rollout", "--help"]).exit_code == 0


def test_progress_bar_on_stderr_only_and_never_changes_results(
    t4l, ckpt_dir, make_ckpt, tmp_path, monkeypatch
):
    pdb, sdf = t4l
    sde = make_ckpt(ckpt_dir / "sde.pt", "neuralmd-sde")
    args = (pdb, sdf, "-o", "traj.xtc", "--model", sde, "--snapshots", 6, "--samples", 2)
    runs = {}
    for name, env, extra in (("plain", "0", ()), ("bar", "1", ()), ("quiet", "1", ("-q",))):
        monkeypatch.setenv("NEURALMD_PROGRESS", env)
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        runs[name] = _ok(*args, *extra)
    assert runs["plain"].stderr == "" and runs["quiet"].stderr == ""
    assert "rollout" in runs["bar"].stderr and "/6" in runs["bar"].stderr
    assert "snapshot" in runs["bar"].stderr
    assert runs["bar"].stdout == runs["plain"].stdout == runs["quiet"].stdout
    for k in range(2):  # measuring the bar's rate draws no random number of the rollout
        files = [(tmp_path / run / f"traj_{k}.xtc").read_bytes() for run in runs]
        assert files[0] == files[1] == files[2]


def _failing_second_write(monkeypatch) -> list:
    """Fault injection: the second trajectory written fails as a full disk would."""
    from neuralmd_core.io import writers

    real, calls = writers.write_trajectory, []

    def write(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(writers, "write_trajectory", write)
    return calls


def test_a_failed_write_leaves_no_file_of_that_complex(t4l, ckpt_dir, make_ckpt, tmp_path,
                                                       monkeypatch):  # fmt: skip
    pdb, sdf = t4l
    sde = make_ckpt(ckpt_dir / "sde.pt", "neuralmd-sde")
    calls = _failing_second_write(monkeypatch)
    out = tmp_path / "out" / "traj.xtc"
    result = _rollout(pdb, sdf, "-o", out, "--model", sde, "--snapshots", 2, "--samples", 2)
    assert isinstance(result.exception, OSError) and len(calls) == 2
    assert not (tmp_path / "out").exists()  # sample 0 was written, then taken back with it


def test_a_failure_in_a_batch_keeps_the_complexes_done_and_nothing_of_the_next(
    t4l, gs11, ode_ckpt, tmp_path, monkeypatch
):
    lst = tmp_path / "list.tsv"
    lst.write_text(f"{t4l[0]}\t{t4l[1]}\tfirst\n{gs11[0]}\t{gs11[1]}\tsecond\n")
    _failing_second_write(monkeypatch)
    out = tmp_path / "out"
    result = _rollout("--batch", lst, "-o", out, "--model", ode_ckpt, "--snapshots", 2,
                      "--batch-size", 1)  # fmt: skip
    assert isinstance(result.exception, OSError)
    assert sorted(p.name for p in out.iterdir()) == ["first.pdb", "first.xtc"]  # no temp files


# ---------------------------------------------------------------- --history


def test_history_continues_a_known_trajectory(gs11, refdata_dir, ckpt_dir, make_ckpt, tmp_path,
                                              monkeypatch):  # fmt: skip
    from neuralmd_core.dynamics import _torsion_prior

    pdb, sdf = gs11
    traj = refdata_dir / "11gs" / "seed0" / "traj.xtc"
    sde = make_ckpt(ckpt_dir / "sde_history.pt", "neuralmd-sde")
    priors = []
    real = _torsion_prior.TorsionPrior.from_history.__func__

    def spy(cls, graphs, history, t_max):
        priors.append((history.shape[0], real(cls, graphs, history, t_max)))
        return priors[-1][1]

    monkeypatch.setattr(_torsion_prior.TorsionPrior, "from_history", classmethod(spy))
    base = (pdb, sdf, "--model", sde, "--snapshots", 3, *LOOSE)
    _ok(*base, "-o", tmp_path / "cont.xtc", "--history", traj, "--history-top", pdb)
    known = md.load(str(traj), top=str(pdb))
    lig = known.topology.select("not protein and not water and element != H")
    written = _ligand_xyz(tmp_path / "cont.xtc")
    assert written.shape[0] == 4  # the start and 3 snapshots
    assert np.abs(written[0] - known.xyz[-1, lig] * 10).max() < XTC_PRECISION_A
    # the model saw the whole history: the torsion prior was built from all 100 frames
    assert [(h, p is not None) for h, p in priors] == [(100, True)]
    priors.clear()
    _ok(*base, "-o", tmp_path / "pose.xtc")  # one known pose: no prior
    assert all(p is None for _h, p in priors)


def test_history_refusals_are_one_line(t4l, t4l_seed0, gs11, ode_ckpt, tmp_path):
    traj = t4l_seed0 / "traj.xtc"
    cases = {
        "--history-top": (*t4l, "--history-top", t4l[0]),
        "no residue named 'LIG'": (*gs11, "--history", traj, "--history-top", t4l[0]),
        "traj.xtc": (*t4l, "--history", tmp_path / "missing" / "traj.xtc"),
    }
    for needle, args in cases.items():
        result = _rollout(*args, "-o", tmp_path / "t.xtc", "--model", ode_ckpt, "--snapshots", 2)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (needle, lines)
        assert not (tmp_path / "t.xtc").exists()
    listing = tmp_path / "list.tsv"
    listing.write_text(f"{t4l[0]}\t{t4l[1]}\tone\n")
    result = _rollout("--batch", listing, "-o", tmp_path / "out", "--model", ode_ckpt,
                      "--history", traj, "--history-top", t4l[0])  # fmt: skip
    assert (
        result.exit_code == 2 and "--history" in result.stderr and not (tmp_path / "out").exists()
    )
    # the same residue name with other atoms: refused by count, then by element order
    system, _top, _xyz = system_from_pdb_sdf(*t4l)
    fewer = dataclasses.replace(system, lig_z=system.lig_z[:-1])
    with pytest.raises(InputError, match="heavy atoms"):
        with_history(fewer, traj, t4l[0])
    swapped = dataclasses.replace(system, lig_z=np.where(np.arange(system.num_atoms) == 0, 7,
                                                         system.lig_z))  # fmt: skip
    with pytest.raises(InputError, match="element order"):
        with_history(swapped, traj, t4l[0])
    assert with_history(system, traj, t4l[0]).lig_pos.shape[0] == 100
