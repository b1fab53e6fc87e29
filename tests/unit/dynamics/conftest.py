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
from neuralmd_core.io.ligand import read_ligand

#: tiny BindingNet for tests (fast on 2 CPU cores)
TINY = {
    "hidden": 16,
    "num_radial": 8,
    "cutoff": 5.0,
    "num_ligand_layers": 1,
    "num_complex_layers": 1,
}


def read_refdata(folder: Path, ligand: str, pocket_A: float = 12.0) -> dict[str, np.ndarray]:
    """One refdata trajectory as a per-system mapping (keys constants), Å / amu / kcal/mol.

    Residues whose CA lies farther than ``pocket_A`` from every ligand heavy atom at snapshot 0
    are dropped (keeps the tests fast; the network's cutoff is 5 Å).
    """
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
    bb = xyz[0][np.asarray(backbone)]
    dist = np.linalg.norm(bb[:, 1, None, :] - xyz[0][lig][None], axis=-1).min(axis=1)
    near = dist < pocket_A
    ligand_info = read_ligand(folder / "ligand.sdf")  # heavy atoms in topology order
    return {
        keys.LIG_BONDS: ligand_info.bonds,
        keys.LIG_BOND_ORDER: ligand_info.bond_order,
        keys.BACKBONE: bb[near],
        keys.RES_TYPE: np.asarray(res_type, dtype=np.int64)[near],
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


@pytest.fixture(scope="session")
def gs11_system(refdata_dir: Path) -> dict[str, np.ndarray]:
    """11GS: glutathione (39 heavy atoms, rotatable bonds) in GST P1-1."""
    return read_refdata(refdata_dir / "11gs" / "seed0", "LIG")


@pytest.fixture(scope="session")
def gs11_pdb_system(refdata_dir: Path) -> dict:
    """11GS as ``neuralmd rollout`` reads it (topology PDB + SDF): a float64 batch of one
    system with its pocket's heavy atoms (``keys.POCKET_XYZ``)."""
    from neuralmd_core.data.pdb_sdf import system_from_pdb_sdf

    folder = refdata_dir / "11gs" / "seed0"
    system = system_from_pdb_sdf(folder / "topology.pdb", folder / "ligand.sdf")[0]
    return collate_systems(
        [system.static_tensors() | {keys.LIG_POS: system.lig_pos}], dtype=torch.float64
    )


def window(system: dict[str, np.ndarray], start: int, length: int) -> dict[str, np.ndarray]:
    """Frames ``start .. start+length-1`` of a system (positions and energy sliced)."""
    out = dict(system)
    out[keys.LIG_POS] = system[keys.LIG_POS][start : start + length]
    out[keys.ENERGY] = system[keys.ENERGY][start : start + length]
    return out


def batch_of(*items: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> dict:
    return collate_systems(list(items), dtype=dtype)


def random_rotation(seed: int) -> torch.Tensor:
    """A proper rotation matrix (3, 3) float64."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def transform_batch(batch: dict, rot: torch.Tensor, shift: torch.Tensor) -> dict:
    """Rotate and translate every coordinate of a batch (velocities are only rotated)."""
    out = dict(batch)
    out[keys.BACKBONE] = batch[keys.BACKBONE] @ rot.T + shift
    out[keys.LIG_POS] = batch[keys.LIG_POS] @ rot.T + shift
    if batch.get("init_velocity") is not None:
        out["init_velocity"] = batch["init_velocity"] @ rot.T
    return out


def train(
    method, batch: dict, known: int, task: str, loss: str, steps: int, lr: float = 3e-3
) -> list[float]:
    """A few Adam steps on one batch; returns the loss of every step."""
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        value = method.loss(batch, known, task, loss)
        opt.zero_grad()
        value.backward()
        opt.step()
        history.append(float(value.detach()))
    return history


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: these graphs are tiny, and on a shared 2-core machine OpenMP barriers
    in scatter/index kernels cost far more wall time than a second thread gains."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
