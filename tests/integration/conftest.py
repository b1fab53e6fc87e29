"""Tiny checkpoints for the rollout/benchmark CLI tests (independent of the bundled model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuralmd_core.dynamics.registry import build_method
from neuralmd_core.training.checkpoint import save_checkpoint

TINY_NET = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 1}
#: deliberately not the reference data's 1 ps: output times must follow the checkpoint
INTERVAL_PS = 2.0


def make_checkpoint(
    path: Path,
    method: str = "neuralmd-ode",
    force_scale: float = 0.1,
    options: dict | None = None,
    seed: int = 0,
) -> Path:
    """Save an untrained tiny method whose output force layers are scaled by ``force_scale``.

    The meta is what ``neuralmd train`` stores (config, task, splits, interval, seed, epoch...).
    """
    torch.manual_seed(seed)
    m = build_method(method, TINY_NET, options or {})
    with torch.no_grad():  # the last layers of BindingNet's vector: internal + external force
        for head in (m.net.ligand.out, m.net.out):
            head.w2.weight.mul_(force_scale)
    meta = {
        "config": {"model": method, "network": TINY_NET, "method": options or {}},
        "task": "single",
        "splits": {"task": "single", "train": ["t4l_seed0"], "val": ["t4l_seed0"]},
        "snapshot_interval_ps": INTERVAL_PS,
        "seed": seed,
        "epoch": 0,
        "best": {"epoch": 0, "val_mae_A": float("nan")},
        "dataset": {"source": "tests/integration/conftest.py"},
    }
    save_checkpoint(path, m, meta)
    return path


@pytest.fixture(scope="session")
def make_ckpt():
    """The checkpoint factory :func:`make_checkpoint` (saves under the given path)."""
    return make_checkpoint


@pytest.fixture(scope="session")
def ckpt_interval_ps() -> float:
    """The snapshot interval stored in every checkpoint of :func:`make_checkpoint`, ps."""
    return INTERVAL_PS


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ckpt")


@pytest.fixture(scope="session")
def ode_ckpt(ckpt_dir: Path) -> Path:
    """A stable NeuralMD-ODE (forces scaled down so short rollouts stay within the guard)."""
    return make_checkpoint(ckpt_dir / "ode.pt")
