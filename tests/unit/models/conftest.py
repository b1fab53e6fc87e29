"""Geometry helpers for the model tests (float64, synthetic and real backbones)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neuralmd_core.keys import residue_index


def random_rotation(generator: torch.Generator, proper: bool = True) -> torch.Tensor:
    """A random orthogonal 3×3 matrix (det +1 if ``proper`` else −1), float64."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) > 0) != proper:
        q[:, 0] = -q[:, 0]
    return q


def synthetic_backbone(
    num_res: int, generator: torch.Generator, origin=(0.0, 0.0, 0.0)
) -> torch.Tensor:
    """A chain of ``num_res`` residues with realistic N–CA–C geometry, ``(R, 3, 3)`` Å."""
    steps = torch.randn(num_res, 3, generator=generator, dtype=torch.float64)
    steps = 3.8 * steps / steps.norm(dim=-1, keepdim=True)
    ca = torch.cumsum(steps, 0) * 0.5 + torch.tensor(origin, dtype=torch.float64)
    off = torch.randn(num_res, 2, 3, generator=generator, dtype=torch.float64)
    off = 1.46 * off / off.norm(dim=-1, keepdim=True)
    return torch.stack([ca + off[:, 0], ca, ca + off[:, 1]], 1)


def synthetic_system(num_res: int, num_atoms: int, seed: int, origin=(0.0, 0.0, 0.0)) -> dict:
    """Backbone, residue types, a ligand placed among the residues, atomic numbers."""
    g = torch.Generator().manual_seed(seed)
    bb = synthetic_backbone(num_res, g, origin)
    centre = bb[:, 1].mean(0)
    pos = centre + 1.6 * torch.randn(num_atoms, 3, generator=g, dtype=torch.float64)
    z = torch.tensor([6, 7, 8, 16, 9, 17])[torch.randint(0, 6, (num_atoms,), generator=g)]
    res_type = torch.randint(0, 21, (num_res,), generator=g)
    return {"backbone": bb, "res_type": res_type, "pos": pos, "z": z}


def batch_systems(systems: list[dict]) -> dict:
    """Concatenate systems the way ``data.batch.collate_systems`` does (with batch vectors)."""
    out = {k: torch.cat([s[k] for s in systems]) for k in ("backbone", "res_type", "pos", "z")}
    out["res_batch"] = torch.cat(
        [torch.full((len(s["res_type"]),), i, dtype=torch.long) for i, s in enumerate(systems)]
    )
    out["lig_batch"] = torch.cat(
        [torch.full((len(s["z"]),), i, dtype=torch.long) for i, s in enumerate(systems)]
    )
    out["num_systems"] = len(systems)
    return out


def load_real_system(topology: Path) -> dict:
    """Backbone N/CA/C per residue and the ligand heavy atoms of a refdata topology (mdtraj)."""
    md = pytest.importorskip("mdtraj")
    top_traj = md.load(str(topology))
    top = top_traj.topology
    xyz = top_traj.xyz[0] * 10.0  # nm → Å
    backbone, res_type = [], []
    ligand = [r for r in top.residues if r.name in ("TMP", "LIG")]
    for res in top.residues:
        names = {a.name: a.index for a in res.atoms}
        if res.is_protein and all(k in names for k in ("N", "CA", "C")):
            backbone.append([xyz[names[k]] for k in ("N", "CA", "C")])
            res_type.append(residue_index(res.name))
    heavy = [a for a in ligand[0].atoms if a.element.symbol != "H"]
    return {
        "backbone": torch.tensor(np.array(backbone), dtype=torch.float64),
        "res_type": torch.tensor(res_type, dtype=torch.long),
        "pos": torch.tensor(np.array([xyz[a.index] for a in heavy]), dtype=torch.float64),
        "z": torch.tensor([a.element.atomic_number for a in heavy], dtype=torch.long),
    }


@pytest.fixture(scope="session")
def t4l_system(refdata_dir: Path) -> dict:
    return load_real_system(refdata_dir / "t4l" / "seed0" / "topology.pdb")


@pytest.fixture(scope="session")
def gs11_system(refdata_dir: Path) -> dict:
    return load_real_system(refdata_dir / "11gs" / "seed0" / "topology.pdb")


@pytest.fixture(scope="session")
def geo() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(
        random_rotation=random_rotation,
        synthetic_backbone=synthetic_backbone,
        synthetic_system=synthetic_system,
        batch_systems=batch_systems,
    )
