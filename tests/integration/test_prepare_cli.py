"""``neuralmd prepare`` / ``neuralmd info`` end to end, including every bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from typer.testing import CliRunner

from neuralmd_cli.app import app
from neuralmd_core.data.store import open_dataset

runner = CliRunner()


def invoke(*args: str, cwd=None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)


def test_issue_commands(refdata_dir, misato_dir, tmp_path):
    t4l = refdata_dir / "t4l"
    r = invoke("prepare", t4l / "seed0/topology.pdb", t4l / "seed0/traj.xtc",
               "--ligand", t4l / "seed0/ligand.sdf", "-o", "t4l.h5", cwd=tmp_path)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    dcd = tmp_path / "seed1" / "traj.dcd"  # seed1's XTC as a DCD
    dcd.parent.mkdir()
    md.load(str(t4l / "seed1/traj.xtc"), top=str(t4l / "seed1/topology.pdb")).save_dcd(str(dcd))
    r = invoke("prepare", t4l / "seed1/topology.pdb", dcd, "--dt-ps", "1",
               "--ligand", t4l / "seed1/ligand.sdf", "-o", "t4l.h5", "--append", cwd=tmp_path)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    r = invoke("prepare", "--misato", misato_dir / "fixtures/11GS_md_layout_1frame.hdf5",
               "-o", "m.h5", cwd=tmp_path)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    r = invoke("info", "t4l.h5", "--format", "json", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert [t["name"] for t in info["trajectories"]] == ["t4l_seed0", "t4l_seed1"]
    assert info["num_systems"] == 1 and all(t["frames"] == 100 for t in info["trajectories"])
    r = invoke("info", "m.h5", cwd=tmp_path)
    assert r.exit_code == 0 and "11GS" in r.stdout and "416" in r.stdout


def _bad_files(refdata_dir, tmp: Path) -> dict:
    """name -> (args after 'prepare', the file the error must name)."""
    t4l, gst = refdata_dir / "t4l" / "seed0", refdata_dir / "11gs" / "seed0"
    top, xtc, sdf = t4l / "topology.pdb", t4l / "traj.xtc", t4l / "ligand.sdf"
    f = {n: tmp / n for n in ("empty.xtc", "garbage.xtc", "trunc.xtc", "trunc.dcd", "empty.pdb",
                              "garbage.pdb", "noback.pdb", "flat.sdf", "empty.sdf", "nan.dcd",
                              "prot.pdb", "prot.dcd", "garbage.hdf5", "ids.txt")}  # fmt: skip
    f["empty.xtc"].write_bytes(b"")
    f["garbage.xtc"].write_bytes(np.random.default_rng(0).bytes(4000))
    f["trunc.xtc"].write_bytes(xtc.read_bytes()[:100_000])
    traj = md.load(str(xtc), top=str(top))
    traj.save_dcd(str(tmp / "full.dcd"))
    f["trunc.dcd"].write_bytes((tmp / "full.dcd").read_bytes()[:100_000])
    (tmp / "full.dcd").unlink()
    f["empty.pdb"].write_bytes(b"")
    f["garbage.pdb"].write_bytes(np.random.default_rng(1).bytes(4000))
    lig_only = traj[:3].atom_slice(traj.topology.select("resname TMP"))
    lig_only[0].save_pdb(str(f["noback.pdb"]))
    lig_only.save_dcd(str(tmp / "noback.dcd"))
    flat = Chem.AddHs(Chem.MolFromSmiles("Cc1ccc(C)cc1"))
    AllChem.Compute2DCoords(flat)
    f["flat.sdf"].write_text(Chem.MolToMolBlock(flat))
    f["empty.sdf"].write_text("")
    nan = traj[:5]
    nan.xyz[3, 10] = np.nan
    nan.save_dcd(str(f["nan.dcd"]))
    prot = traj[:3].atom_slice(traj.topology.select("protein"))
    prot[0].save_pdb(str(f["prot.pdb"]))
    prot.save_dcd(str(f["prot.dcd"]))
    f["garbage.hdf5"].write_bytes(b"\x89HDF\r\n garbage " * 50)
    f["ids.txt"].write_bytes(b"")
    return {
        "missing topology": ([tmp / "nope.pdb", xtc, "--ligand", sdf], tmp / "nope.pdb"),
        "empty topology": ([f["empty.pdb"], xtc, "--ligand", sdf], f["empty.pdb"]),
        "garbage topology": ([f["garbage.pdb"], xtc, "--ligand", sdf], f["garbage.pdb"]),
        "missing trajectory": ([top, tmp / "nope.xtc", "--ligand", sdf], tmp / "nope.xtc"),
        "empty trajectory": ([top, f["empty.xtc"], "--ligand", sdf], f["empty.xtc"]),
        "garbage trajectory": ([top, f["garbage.xtc"], "--ligand", sdf], f["garbage.xtc"]),
        "truncated xtc": ([top, f["trunc.xtc"], "--ligand", sdf], f["trunc.xtc"]),
        "truncated dcd": ([top, f["trunc.dcd"], "--ligand", sdf], f["trunc.dcd"]),
        "no backbone": ([f["noback.pdb"], tmp / "noback.dcd", "--ligand", sdf], f["noback.pdb"]),
        "2D sdf": ([top, xtc, "--ligand", f["flat.sdf"]], f["flat.sdf"]),
        "empty sdf": ([top, xtc, "--ligand", f["empty.sdf"]], f["empty.sdf"]),
        "missing sdf": ([top, xtc, "--ligand", tmp / "nope.sdf"], tmp / "nope.sdf"),
        "atom count mismatch": ([top, gst / "traj.xtc", "--ligand", sdf], gst / "traj.xtc"),
        "NaN coordinates": ([top, f["nan.dcd"], "--ligand", sdf], f["nan.dcd"]),
        "no ligand": ([f["prot.pdb"], f["prot.dcd"]], f["prot.pdb"]),
        "bad resname": ([top, xtc, "--ligand-resname", "XYZ"], top),
        "misato garbage": (["--misato", f["garbage.hdf5"]], f["garbage.hdf5"]),
        "misato missing": (["--misato", tmp / "nope.hdf5"], tmp / "nope.hdf5"),
        "empty split": (["--misato", tmp / "m.hdf5", "--split", f["ids.txt"]], f["ids.txt"]),
    }


def test_bad_inputs_one_line_exit_2(refdata_dir, misato_dir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(misato_dir / "fixtures/11GS_md_layout_1frame.hdf5", inputs / "m.hdf5")
    cases = _bad_files(refdata_dir, inputs)
    snapshot = {p: p.read_bytes() for p in inputs.iterdir()}
    outdir = tmp_path / "out"
    outdir.mkdir()
    for label, (args, culprit) in cases.items():
        r = invoke("prepare", *args, "-o", outdir / "x.h5")
        lines = r.stderr.strip().splitlines()
        error_lines = [ln for ln in lines if ln.startswith("neuralmd: error:")]
        assert r.exit_code == 2, (label, r.stderr, r.exception)
        assert len(error_lines) == 1 and str(culprit) in error_lines[0], (label, r.stderr)
        assert "Traceback" not in r.stderr, label
        assert list(outdir.iterdir()) == [], label  # no output, no temp file
    assert {p: p.read_bytes() for p in inputs.iterdir()} == snapshot  # inputs untouched


@pytest.mark.parametrize("gid", ["11gs", "1js0", "1o91", "5oml", "5vvf", "6nij", "7yam", None])
def test_inference_records_rejected(misato_dir, tmp_path, gid):
    src = misato_dir / "inference_from_pdb.hdf5"
    args = ["prepare", "--misato", src, "-o", tmp_path / "x.h5", "-q"]
    r = invoke(*args, *(["--ids", gid] if gid else []))
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("neuralmd: error:")]
    assert str(src) in line and ("no trajectory" in line or "no usable record" in line)
    assert not (tmp_path / "x.h5").exists()


def test_output_rules(misato_dir, tmp_path):
    fixture = misato_dir / "fixtures/11GS_md_layout_1frame.hdf5"
    out = tmp_path / "m.h5"
    assert invoke("prepare", "--misato", fixture, "-o", out, "-q").exit_code == 0
    before = out.read_bytes()
    r = invoke("prepare", "--misato", fixture, "-o", out, "-q")
    assert r.exit_code == 2 and "already exists" in r.stderr and out.read_bytes() == before
    r = invoke("prepare", "--misato", fixture, "-o", out, "-q", "--append")
    assert r.exit_code == 2 and "already in the dataset" in r.stderr and out.read_bytes() == before
    assert invoke("prepare", "--misato", fixture, "-o", out, "-q", "--force").exit_code == 0
    r = invoke("info", tmp_path / "none.h5")
    assert r.exit_code == 2 and "none.h5" in r.stderr
    r = invoke("info", fixture)
    assert r.exit_code == 2 and "not a neuralmd prepared dataset" in r.stderr


def _two_copies(pdb: Path, out: Path, shift=(15.0, 0.0, 0.0)) -> Path:
    """``pdb`` plus a second TMP, chain B, residue 205, moved by ``shift`` Å (PDB text)."""
    lines = pdb.read_text().splitlines(keepends=True)
    tmp = [ln for ln in lines if ln.startswith(("ATOM", "HETATM")) and ln[17:20] == "TMP"]
    copy = [f"HETATM{9001 + k:5d}{ln[11:21]}B 205    "
            + "".join(f"{float(ln[30 + 8 * i:38 + 8 * i]) + shift[i]:8.3f}" for i in range(3))
            + ln[54:] for k, ln in enumerate(tmp)]  # fmt: skip
    end = next(i for i, ln in enumerate(lines) if ln.startswith(("CONECT", "END")))
    out.write_text("".join(lines[:end] + copy + ["TER\n"] + lines[end:]))
    return out


def test_ligand_copy_chosen_by_chain_or_resid(refdata_dir, tmp_path):
    """Two TMP residues: the name alone is ambiguous; --ligand-chain/--ligand-resid pick one."""
    two = _two_copies(refdata_dir / "t4l" / "seed0" / "topology.pdb", tmp_path / "two.pdb")
    r = invoke("prepare", two, two, "--ligand-resname", "TMP", "-o", "x.h5", cwd=tmp_path)
    assert r.exit_code == 2 and "--ligand-chain" in r.stderr and "--ligand-resid" in r.stderr
    assert not (tmp_path / "x.h5").exists()
    top = md.load(str(two))
    for opts, chain_index in ((["--ligand-chain", "B"], 1), (["--ligand-resid", "105"], 0)):
        out = tmp_path / f"{opts[0][2:]}.h5"
        r = invoke("prepare", two, two, "--ligand-resname", "TMP", *opts, "-o", out.name,
                   "--dt-ps", "1", cwd=tmp_path)  # fmt: skip
        assert r.exit_code == 0, r.stderr
        with open_dataset(out) as ds:
            (name,) = ds.names()
            lig = ds.load(name).lig_pos[0]
        heavy = [a.index for a in top.topology.atoms
                 if a.residue.name == "TMP" and a.element.symbol != "H"
                 and a.residue.chain.index == chain_index]  # fmt: skip
        np.testing.assert_allclose(lig, top.xyz[0][heavy] * 10.0, atol=1e-3)
