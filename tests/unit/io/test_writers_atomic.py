"""Writers: atomic pairs, umask permissions, the DCD time step, figure formats, C chatter."""

from __future__ import annotations

import ctypes
import os
import stat
import warnings

import mdtraj as md
import numpy as np
import pytest

from neuralmd_core.errors import InputError
from neuralmd_core.evaluation._files import write_csv
from neuralmd_core.evaluation.realism_plot import plot_realism
from neuralmd_core.evaluation.rmsf import plot_rmsf, sliding_rmsf
from neuralmd_core.io import _formats
from neuralmd_core.io._files import captured_output
from neuralmd_core.io.writers import has_times, read_ligand_trajectory, write_trajectory

S = 6  # snapshots written


@pytest.fixture(scope="module")
def t4l(t4l_seed0):
    """Protein (with H) and ligand heavy atoms of the real T4L trajectory."""
    full = md.load(str(t4l_seed0 / "topology.pdb"))
    protein = full.atom_slice(full.topology.select("protein"))
    lig = read_ligand_trajectory(t4l_seed0 / "traj.xtc", t4l_seed0 / "topology.pdb")
    return protein, lig


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _write(path, t4l, pos=None, times=None):
    protein, lig = t4l
    pos = lig.lig_pos_A[80 : 80 + S] if pos is None else pos
    times = lig.time_ps[80 : 80 + S] if times is None else times
    return write_trajectory(path, protein.topology, protein.xyz[0] * 10.0, lig.lig_z,
                            lig.lig_names, "TMP", pos, times, lig.bonds)  # fmt: skip


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("ext", [".xtc", ".dcd", ".h5", ".pdb"])
def test_pair_appears_together_with_umask_permissions(tmp_path, t4l, umask_022, ext):
    traj, top = _write(tmp_path / f"traj{ext}", t4l)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([traj.name, top.name])
    assert _mode(traj) == _mode(top) == 0o644  # not mkstemp's 0600


def test_nothing_written_when_the_topology_cannot_be(tmp_path, t4l):
    (tmp_path / "traj.pdb").mkdir()  # the topology's name is taken by a folder
    old = tmp_path / "traj.xtc"
    old.write_bytes(b"previous run")
    with pytest.raises(InputError, match="traj.pdb: is a directory"):
        _write(old, t4l)
    assert old.read_bytes() == b"previous run"  # the trajectory was not replaced either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traj.pdb", "traj.xtc"]


def test_bad_values_write_nothing(tmp_path, t4l):
    _, lig = t4l
    pos = lig.lig_pos_A[80 : 80 + S].copy()
    pos[3, 2, 0] = np.nan
    with pytest.raises(InputError, match=r"NaN/inf coordinates or times \(snapshot 3\)"):
        _write(tmp_path / "t.xtc", t4l, pos=pos)
    far = lig.lig_pos_A[80 : 80 + S] + 2e4  # beyond what a PDB's 8.3f fields hold
    with pytest.raises(InputError, match="do not fit a PDB file"):
        _write(tmp_path / "t.xtc", t4l, pos=far)
    assert list(tmp_path.iterdir()) == []


def test_dcd_header_carries_the_model_interval(tmp_path, t4l):
    import MDAnalysis as mda

    times = 160.0 + 2.0 * np.arange(S)  # a 2 ps model, continuing from snapshot 80
    traj, top = _write(tmp_path / "t.dcd", t4l, times=times)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(top), str(traj))
        assert u.trajectory.dt == pytest.approx(2.0, abs=1e-3)
        assert np.allclose([ts.time for ts in u.trajectory], times, atol=1e-3)
    back = md.load(str(traj), top=str(top))  # mdtraj still reads it
    assert back.n_frames == S
    ours = read_ligand_trajectory(traj, top)
    assert np.allclose(ours.time_ps, times, atol=1e-3) and has_times(traj)
    header = _formats.read_dcd_header(traj)
    assert (header.istart, header.nsavc) == (80, 1)
    assert header.delta_akma == pytest.approx(2.0 / _formats.AKMA_PS, rel=1e-6)
    # a DCD mdtraj wrote itself states no time step: frames are numbered
    plain = tmp_path / "plain.dcd"
    back.save_dcd(str(plain))
    assert not has_times(plain)
    assert np.array_equal(read_ligand_trajectory(plain, top).time_ps, np.arange(S))


def test_csv_and_figures_atomic_in_the_format_named(tmp_path, umask_022):
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(12, 4, 3))
    curve = sliding_rmsf(pos, label="a")
    csv = write_csv(tmp_path / "r.csv", [{"a": 1, "b": 2.5}])
    assert csv.read_text() == "a,b\n1,2.5\n" and _mode(csv) == 0o644
    magic = {".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".pdf": b"%PDF", ".svg": b"<?xml"}
    for ext, head in magic.items():
        out = plot_rmsf([curve], tmp_path / f"r{ext}")
        assert out.read_bytes()[: len(head)] == head and _mode(out) == 0o644, ext
    svg = plot_realism(tmp_path / "realism.svg", pos, {"pred": pos[::-1]}, np.zeros((0, 2)))
    assert b"<svg" in svg.read_bytes()[:400]
    with pytest.raises(InputError, match=r"unknown extension '\.bmp'"):
        plot_rmsf([curve], tmp_path / "r.bmp")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="d.png: is a directory"):
        plot_rmsf([curve], tmp_path / "d.png")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["d.png", "r.csv", "r.jpg", "r.pdf", "r.png", "r.svg", "realism.svg"]


def test_c_library_output_is_captured_and_given_back(capfd):
    with captured_output() as cap:
        libc = ctypes.CDLL(None)
        libc.printf(b"buffered C stdout\n")
        os.write(2, b"(xdrfile error) raw fd 2\n")
        warnings.warn("a library warning", UserWarning, stacklevel=1)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert sorted(cap.lines()) == ["(xdrfile error) raw fd 2", "UserWarning: a library warning",
                                   "buffered C stdout"]  # fmt: skip
