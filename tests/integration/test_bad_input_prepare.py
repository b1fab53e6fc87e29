"""`neuralmd prepare` on what users feed it: the full bad-input contract, progress, permissions.

Every case of the table gives exit 2, one stderr line naming the file or option, no traceback,
no new or changed file and untouched inputs (``badinput.assert_rejected``). Output problems
(``-o DIR``, a missing folder, a wrong extension, an existing file) and option ranges are
refused before any input is read.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import mdtraj as md
import pytest
from badinput import assert_rejected, fill, run_cli, run_subprocess, snapshot


@pytest.fixture(scope="module")
def inp(t4l_seed0: Path, misato_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """Copies of the real inputs and bad files made from them, in one folder."""
    d = tmp_path_factory.mktemp("prepare_inputs")
    f: dict[str, Path] = {}
    for name in ("topology.pdb", "traj.xtc", "ligand.sdf", "interaction_energy.csv"):
        f[name] = d / name
        shutil.copy(t4l_seed0 / name, f[name])
    f["misato"] = d / "md.hdf5"
    shutil.copy(misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5", f["misato"])
    xtc, mis = f["traj.xtc"].read_bytes(), f["misato"].read_bytes()
    for name, data in {
        "empty.pdb": b"", "garbage.pdb": os.urandom(4000), "empty.xtc": b"",
        "garbage.xtc": os.urandom(4000), "trunc.xtc": xtc[:100_000], "xtc_as.dcd": xtc,
        "empty.sdf": b"", "garbage.sdf": os.urandom(2000), "empty.hdf5": b"",
        "garbage.hdf5": b"\x89HDF\r\n\x1a\n" + os.urandom(3000), "trunc.hdf5": mis[: len(mis) // 2],
        "empty.txt": b"", "binary.csv": os.urandom(500), "garbage_dataset.h5": os.urandom(500),
    }.items():  # fmt: skip
        f[name] = d / name
        f[name].write_bytes(data)
    f["pdb_as.xtc"] = d / "pdb_as.xtc"
    shutil.copy(f["topology.pdb"], f["pdb_as.xtc"])
    out = tmp_path_factory.mktemp("prepare_out")
    f["out"], f["exists"] = out / "x.h5", out / "exists.h5"
    f["exists"].write_bytes(b"an older file")
    (out / "subdir").mkdir()
    f["subdir"] = out / "subdir"
    return f


MD = ["{topology.pdb}", "{traj.xtc}", "--ligand", "{ligand.sdf}"]
# (case, prepare arguments, the -o to use, what the line must name, words it must say)
CASES = [
    # -o: a directory, a missing folder, a wrong extension, an existing file
    ("output is a directory", MD, "{subdir}", ["{subdir}"], ["directory", ".h5"]),
    ("output folder missing", MD, "{subdir}/no/x.h5", ["x.h5"], ["does not exist"]),
    ("output wrong extension", MD, "{subdir}/x.xtc", ["x.xtc"], [".h5"]),
    ("output exists", MD, "{exists}", ["{exists}"], ["already exists", "--force"]),
    ("append to non-dataset", [*MD, "--append"], "{garbage_dataset.h5}",
     ["{garbage_dataset.h5}"], ["not an HDF5 file"]),
    ("append and force", [*MD, "--append", "--force"], "{out}", ["--append"], ["--force"]),
    ("output is the input", ["--misato", "{misato}", "--force"], "{misato}", ["{misato}"],
     ["overwrite an input"]),
    # inputs: missing, empty, garbage, truncated, wrong extension
    ("topology only", ["{topology.pdb}"], "{out}", [], ["TRAJECTORY"]),
    ("missing topology", ["{out}.pdb", "{traj.xtc}"], "{out}", ["{out}.pdb"], ["not found"]),
    ("empty topology", ["{empty.pdb}", "{traj.xtc}"], "{out}", ["{empty.pdb}"], ["empty"]),
    ("garbage topology", ["{garbage.pdb}", "{traj.xtc}"], "{out}", ["{garbage.pdb}"], []),
    ("missing trajectory", ["{topology.pdb}", "{out}.xtc"], "{out}", ["{out}.xtc"], ["not found"]),
    ("empty trajectory", ["{topology.pdb}", "{empty.xtc}"], "{out}", ["{empty.xtc}"], ["empty"]),
    ("garbage trajectory", ["{topology.pdb}", "{garbage.xtc}"], "{out}", ["{garbage.xtc}"], []),
    ("truncated xtc", ["{topology.pdb}", "{trunc.xtc}"], "{out}", ["{trunc.xtc}"], ["truncated"]),
    ("xtc renamed dcd", ["{topology.pdb}", "{xtc_as.dcd}"], "{out}", ["{xtc_as.dcd}"], []),
    ("pdb renamed xtc", ["{topology.pdb}", "{pdb_as.xtc}"], "{out}", ["{pdb_as.xtc}"], []),
    ("missing ligand", [*MD[:3], "{out}.sdf"], "{out}", ["{out}.sdf"], ["not found"]),
    ("empty ligand", [*MD[:3], "{empty.sdf}"], "{out}", ["{empty.sdf}"], ["empty"]),
    ("garbage ligand", [*MD[:3], "{garbage.sdf}"], "{out}", ["{garbage.sdf}"], []),
    ("binary energies", [*MD, "--energies", "{binary.csv}"], "{out}", ["{binary.csv}"], []),
    ("missing misato", ["--misato", "{out}.hdf5"], "{out}", ["{out}.hdf5"], ["not found"]),
    ("empty misato", ["--misato", "{empty.hdf5}"], "{out}", ["{empty.hdf5}"], ["empty"]),
    ("garbage misato", ["--misato", "{garbage.hdf5}"], "{out}", ["{garbage.hdf5}"], ["HDF5"]),
    ("truncated misato", ["--misato", "{trunc.hdf5}"], "{out}", ["{trunc.hdf5}"], ["truncated"]),
    ("empty split file", ["--misato", "{misato}", "--split", "{empty.txt}"], "{out}",
     ["{empty.txt}"], ["empty"]),
    ("misato and files", ["{topology.pdb}", "--misato", "{misato}"], "{out}", [], ["--misato"]),
    # out-of-range options
    ("stride 0", [*MD, "--stride", "0"], "{out}", ["--stride"], ["at least 1"]),
    ("dt negative", [*MD, "--dt-ps", "-1"], "{out}", ["--dt-ps"], ["positive"]),
    ("dt nan", [*MD, "--dt-ps", "nan"], "{out}", ["--dt-ps"], ["positive"]),
    ("limit 0", ["--misato", "{misato}", "--limit", "0"], "{out}", ["--limit"], ["at least 1"]),
    ("workers 0", ["--misato", "{misato}", "--workers", "0"], "{out}", ["--workers"],
     ["at least 1"]),
    ("no ids", ["--misato", "{misato}", "--ids", ","], "{out}", ["--ids"], []),
    ("bad format", [*MD, "--format", "xml"], "{out}", ["--format"], ["xml"]),
    ("unknown id", ["--misato", "{misato}", "--ids", "1ABC"], "{out}", ["{misato}"], ["1ABC"]),
]  # fmt: skip


@pytest.mark.parametrize("case,args,out,names,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(inp, case, args, out, names, words):
    watched = [inp["traj.xtc"].parent, inp["out"].parent]
    before = snapshot(watched)
    outcome = run_cli(["prepare", *fill(args, inp), "-o", *fill([out], inp)])
    assert_rejected(outcome, fill(names, inp), before, snapshot(watched), words)


def test_output_checks_come_before_reading(inp, monkeypatch):
    """-o problems are reported without reading the trajectory (no mdtraj call at all)."""
    import neuralmd_core.data.prepare as prepare

    def forbidden(*args, **kwargs):
        raise AssertionError("the trajectory was read before the output was checked")

    monkeypatch.setattr(prepare.structure, "load_trajectory", forbidden)
    for out in (inp["subdir"], inp["subdir"] / "no" / "x.h5", inp["subdir"] / "x.txt"):
        r = run_cli(["prepare", *fill(MD, inp), "-o", out])
        assert r.exit_code == 2 and str(out) in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["trunc.xtc", "xtc_as.dcd"])
def test_c_library_chatter_is_silenced(inp, name):
    """In a real process, xdrfile/DCD plugin output never reaches the terminal."""
    before = snapshot([inp["traj.xtc"].parent, inp["out"].parent])
    outcome = run_subprocess(["prepare", inp["topology.pdb"], inp[name], "-o", inp["out"]])
    after = snapshot([inp["traj.xtc"].parent, inp["out"].parent])
    assert_rejected(outcome, [str(inp[name])], before, after)


def test_progress_bar_and_quiet_and_permissions(inp, tmp_path, monkeypatch):
    """A bar on stderr when forced on (as on a terminal), none with -q; files are 0644."""
    args = ["prepare", *fill(MD, inp), "--stride", "20"]
    old = os.umask(0o022)
    try:
        monkeypatch.setenv("NEURALMD_PROGRESS", "1")
        shown = run_cli([*args, "-o", tmp_path / "a.h5"])
        quiet = run_cli([*args, "-o", tmp_path / "b.h5", "-q"])
        monkeypatch.delenv("NEURALMD_PROGRESS")
        plain = run_cli([*args, "-o", tmp_path / "c.h5"])  # stderr is not a terminal here
        appended = run_cli([*args, "-o", tmp_path / "c.h5", "--append", "--name", "again"])
    finally:
        os.umask(old)
    for r in (shown, quiet, plain, appended):
        assert r.exit_code == 0, r.stderr
    assert "prepare" in shown.stderr and "trajectory" in shown.stderr
    assert quiet.stderr == "" and plain.stderr == "" and appended.stderr == ""
    assert shown.stdout == quiet.stdout.replace("b.h5", "a.h5")  # the summary is unchanged
    for name in ("a.h5", "b.h5", "c.h5"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "c.h5"]  # no temps


def test_misato_progress_bar(inp, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALMD_PROGRESS", "1")
    r = run_cli(["prepare", "--misato", inp["misato"], "-o", tmp_path / "m.h5"])
    assert r.exit_code == 0, r.stderr
    assert "complex" in r.stderr
    r = run_cli(["prepare", "--misato", inp["misato"], "-o", tmp_path / "n.h5", "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""


def test_dcd_made_here_prepares(inp, tmp_path):
    """The DCD path (made from the shipped XTC) still works end to end with --dt-ps."""
    traj = md.load(str(inp["traj.xtc"]), top=str(inp["topology.pdb"]))[::10]
    traj.save_dcd(str(tmp_path / "t.dcd"))
    r = run_cli(["prepare", inp["topology.pdb"], tmp_path / "t.dcd", "--ligand",
                 inp["ligand.sdf"], "--dt-ps", "10", "-o", tmp_path / "d.h5", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "10" in r.stdout.splitlines()[-1]
