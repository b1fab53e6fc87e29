"""Fixtures for the training tests: a small real dataset made from ../shared/refdata."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuralmd_core.data.prepare import prepare_from_md
from neuralmd_core.data.store import write_systems

#: a tiny BindingNet: fast on two shared CPU cores
TINY_NETWORK = {"hidden": 16, "num_radial": 16, "num_ligand_layers": 1, "num_complex_layers": 1}


def t4l_systems(refdata: Path, seeds=(0, 1, 2, 3), stride: int = 4):
    """Real T4L replicas through the real prepare path (stride 4: 25 snapshots 4 ps apart)."""
    out = []
    for k in seeds:
        d = refdata / "t4l" / f"seed{k}"
        systems = prepare_from_md(
            d / "topology.pdb", [d / "traj.xtc"], ligand=d / "ligand.sdf", name="t4l", stride=stride
        )
        for s in systems:
            s.name = f"t4l_seed{k}"
        out += systems
    return out


@pytest.fixture(scope="session")
def t4l_dataset(refdata_dir: Path, tmp_path_factory) -> Path:
    """4 T4L trajectories of 25 snapshots each (every 4th of the 100)."""
    path = tmp_path_factory.mktemp("data") / "t4l_s4.h5"
    write_systems(path, t4l_systems(refdata_dir))
    return path


@pytest.fixture(scope="session")
def t4l_full_dataset(refdata_dir: Path, tmp_path_factory) -> Path:
    """T4L seed 0 with all 100 snapshots (1 ps apart)."""
    path = tmp_path_factory.mktemp("data") / "t4l_seed0.h5"
    write_systems(path, t4l_systems(refdata_dir, seeds=(0,), stride=1))
    return path
