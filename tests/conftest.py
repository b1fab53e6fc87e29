"""Shared fixtures: where the real reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)  # 2 shared cores: one thread is fastest for these small models

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEURALMD_SHARED", REPO.parent / "shared"))
REFDATA = SHARED / "refdata"
MISATO = SHARED / "misato"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED} (set NEURALMD_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def refdata_dir(shared_dir: Path) -> Path:
    return shared_dir / "refdata"


@pytest.fixture(scope="session")
def t4l_seed0(refdata_dir: Path) -> Path:
    return refdata_dir / "t4l" / "seed0"


@pytest.fixture(scope="session")
def misato_dir(shared_dir: Path) -> Path:
    return shared_dir / "misato"
