"""Plumbing shared by the methods: batch fields, losses, velocity estimates, sample replication.

Private to ``neuralmd_core.dynamics``. Time is in snapshot intervals, lengths in Å, masses in amu.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from neuralmd_core import keys
from neuralmd_core.errors import ConfigError

#: Masses are divided by this (amu) inside the Newtonian/Langevin methods, so that a carbon
#: atom has unit mass and an untrained force network gives O(1) accelerations.
MASS_SCALE_AMU: float = 12.0

#: Optional batch field: initial velocity (N_tot, 3), Å per snapshot interval.
INIT_VELOCITY: str = "init_velocity"


def positions(batch: Mapping[str, Any]) -> torch.Tensor:
    """The batch's ``LIG_POS`` ``(T, N_tot, 3)`` Å, checked."""
    pos = batch[keys.LIG_POS]
    if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[0] < 1:
        raise ValueError(f"LIG_POS must be (T, N, 3) with T >= 1, got {tuple(pos.shape)}")
    return pos


def num_systems(batch: Mapping[str, Any]) -> int:
    """Number of systems B in a batch."""
    if keys.NUM_SYSTEMS in batch:
        return int(batch[keys.NUM_SYSTEMS])
    return int(batch[keys.LIG_BATCH].max()) + 1


def check_window(batch: Mapping[str, Any], known: int) -> torch.Tensor:
    """Check a training window (``1 <= known < T``) and return its ``LIG_POS`` ``(T, N, 3)``."""
    pos = positions(batch)
    if not 1 <= known < pos.shape[0]:
        raise ValueError(f"need 1 <= known < T, got known={known}, T={pos.shape[0]}")
    return pos


def position_loss(pred: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean per-coordinate loss between predicted and target positions.

    Averaging over every (frame, atom, xyz) equals the reference's (1/e) Σ_k of per-frame means,
    because every frame has the same number of atoms.

    Args:
        pred: ``(..., N, 3)`` Å.
        target: same shape, Å.
        loss: ``"l1"`` (mean absolute error, Å) or ``"mse"`` (mean squared error, Å²).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    diff = pred - target
    if loss == "l1":
        return diff.abs().mean()
    if loss == "mse":
        return diff.pow(2).mean()
    raise ConfigError("loss", f"unknown loss {loss!r}; choose l1 or mse")


def history_velocity(batch: Mapping[str, Any], history: torch.Tensor | None = None) -> torch.Tensor:
    """Initial velocity (N, 3), Å per snapshot interval.

    ``batch["init_velocity"]`` when present, else the backward difference of the last two frames
    of ``history`` (default: the batch's ``LIG_POS``), else zero when only one frame is known.
    """
    if batch.get(INIT_VELOCITY) is not None:
        return batch[INIT_VELOCITY]
    hist = positions(batch) if history is None else history
    if hist.shape[0] < 2:
        return torch.zeros_like(hist[-1])
    return hist[-1] - hist[-2]


def repeat_deterministic(pred: torch.Tensor, samples: int) -> torch.Tensor:
    """``(S, N, 3)`` → ``(K, S, N, 3)`` by repetition (deterministic methods)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    return pred.unsqueeze(0).repeat(samples, 1, 1, 1)


def seed_from(generator: torch.Generator | None) -> int:
    """A non-negative 31-bit integer drawn from ``generator`` (the global RNG when ``None``)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())


def inv_softplus(y: float) -> float:
    """x with softplus(x) = y (for initialising softplus-parameterised positives)."""
    return y + math.log(-math.expm1(-y))
