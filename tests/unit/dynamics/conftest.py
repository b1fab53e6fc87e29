"""Fixtures for the dynamics tests: real refdata windows read inline with mdtraj, tiny models."""

from __future__ import annotations

import csv
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.data.batch import collate_systems

#: tiny BindingNet for tests (fast on 2 CPU cores)
TINY = {
    "hidden": 16,
    "num_radial": 8,
    "cutoff": 5.0,
    "num_ligand_layers": 1,
    "num_complex_layers": 1,
}


def read_refdata(folder: Path, ligand: str) -> dict[str, np.ndarray]:
    """One refdata trajectory as a per-system mapping (keys constants), Å / amu / kcal/mol."""
    traj = md.load(str(folder / "traj.xtc"), top=str(folder / "topology.pdb"))
    top = traj.topology
    lig = [a.index for a in top.atoms if a.residue.name == ligand and a.element.symbol != "H"]
    backbone, res_type = [], []
    for res in top.residues:
        if res.name == ligand or not res.is_protein:
            continue
        names = {a.name: a.index for a in res.atoms}
        if all(n in names for n in ("N", "CA", "C")):
            backbone.append([names["N"], names["CA"], names["C"]])
            res_type.append(keys.residue_index(res.name))
    with open(folder / "interaction_energy.csv") as fh:
        energy = [float(r["interaction_kJmol"]) / keys.KJ_PER_KCAL for r in csv.DictReader(fh)]
    xyz = traj.xyz.astype(np.float64) * 10.0
    return {
        keys.BACKBONE: xyz[0][np.asarray(backbone)],
        keys.RES_TYPE: np.asarray(res_type, dtype=np.int64),
        keys.LIG_Z: np.asarray([top.atom(i).element.number for i in lig], dtype=np.int64),
        keys.LIG_MASS: np.asarray([top.atom(i).element.mass for i in lig]),
        keys.LIG_POS: xyz[:, lig],
        keys.ENERGY: np.asarray(energy),
    }


@pytest.fixture(scope="session")
def t4l_system(t4l_seed0: Path) -> dict[str, np.ndarray]:
    return read_refdata(t4l_seed0, "TMP")


@pytest.fixture(scope="session")
def t4l_seed1_system(refdata_dir: Path) -> dict[str, np.ndarray]:
    return read_refdata(refdata_dir / "t4l" / "seed1", "TMP")


def window(system: dict[str, np.ndarray], start: int, length: int) -> dict[str, np.ndarray]:
    """Frames ``start .. start+length-1`` of a system (positions and energy sliced)."""
    out = dict(system)
    out[keys.LIG_POS] = system[keys.LIG_POS][start : start + length]
    out[keys.ENERGY] = system[keys.ENERGY][start : start + length]
    return out


def batch_of(*items: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> dict:
    return collate_systems(list(items), dtype=dtype)
