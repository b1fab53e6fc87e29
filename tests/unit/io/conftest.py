"""A MISATO-layout file with 100 snapshots, built from the real 11gs reference MD."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import mdtraj as md
import numpy as np
import pytest


def read_prmtop_flags(path: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Fixed-width %FLAG sections of an AMBER prmtop as lists of strings."""
    text = path.read_text()
    out = {}
    for name in names:
        m = re.search(
            rf"%FLAG {name}\s*\n%FORMAT\((\d+)[aAI](\d+)\)\s*\n(.*?)(?=%FLAG|\Z)", text, re.S
        )
        width = int(m.group(2))
        body = "".join(m.group(3).splitlines())
        out[name] = [body[i : i + width].strip() for i in range(0, len(body), width)]
        out[name] = [v for v in out[name] if v]
    return out


def build_misato_layout(run_dir: Path, misato_dir: Path, out: Path, gid: str = "11GS") -> dict:
    """Write ``run_dir``'s MD in MISATO MD.hdf5 layout (types/residues from the prmtop)."""
    flags = read_prmtop_flags(
        run_dir / "system.prmtop",
        ("AMBER_ATOM_TYPE", "RESIDUE_LABEL", "RESIDUE_POINTER", "ATOMIC_NUMBER"),
    )
    type_code = {
        v: int(k)
        for k, v in json.loads(
            (misato_dir / "atom_type_code_to_amber_type.json").read_text()
        ).items()
    }
    res_code = {
        v: int(k)
        for k, v in json.loads((misato_dir / "residue_code_to_name.json").read_text()).items()
    }
    el_code = {
        int(k): v
        for k, v in json.loads(
            (misato_dir / "atom_type_code_to_element_code.json").read_text()
        ).items()
    }
    ptr = [int(x) - 1 for x in flags["RESIDUE_POINTER"]]
    n = len(flags["AMBER_ATOM_TYPE"])
    residue = np.zeros(n, dtype=np.int64)
    for k, start in enumerate(ptr):
        end = ptr[k + 1] if k + 1 < len(ptr) else n
        label = flags["RESIDUE_LABEL"][k]
        residue[start:end] = 0 if label == "LIG" else res_code[label]
    types = np.array([type_code.get(t, -1) for t in flags["AMBER_ATOM_TYPE"]], dtype=np.int64)
    number = np.array([int(x) for x in flags["ATOMIC_NUMBER"]], dtype=np.int64)
    traj = md.load(str(run_dir / "traj.xtc"), top=str(run_dir / "topology.pdb"))
    energy = np.loadtxt(run_dir / "interaction_energy.csv", delimiter=",", skiprows=1)[:, 2] / 4.184
    lig_start = int(np.flatnonzero(residue == 0)[0])
    with h5py.File(out, "w") as f:
        g = f.create_group(gid)
        gz = dict(compression="gzip")
        g.create_dataset("atoms_type", data=types, **gz)
        g.create_dataset("atoms_residue", data=residue, **gz)
        g.create_dataset("atoms_number", data=number, **gz)
        g.create_dataset(
            "atoms_element", data=np.array([el_code.get(int(t), 0) for t in types]), **gz
        )
        g.create_dataset("molecules_begin_atom_index", data=np.array([0, lig_start]), **gz)
        g.create_dataset("trajectory_coordinates", data=traj.xyz.astype(np.float64) * 10, **gz)
        g.create_dataset("frames_interaction_energy", data=energy, **gz)
    return {"traj": traj, "energy": energy, "lig_start": lig_start,
            "labels": flags["RESIDUE_LABEL"], "sdf": run_dir / "ligand.sdf"}  # fmt: skip


@pytest.fixture(scope="session")
def misato_100(refdata_dir, misato_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("misato") / "md_layout_100.hdf5"
    meta = build_misato_layout(refdata_dir / "11gs" / "seed0", misato_dir, out)
    return out, meta
