"""Reference predictors with no training: the floor any learned model must clear.

- ``static``: every predicted snapshot is the last known pose.
- ``mean-pose``: every predicted snapshot is the mean pose over all known (history) snapshots;
  in the single-trajectory evaluation the history is the training snapshots 0..79.

Neither has parameters (``trainable = False``); their :meth:`loss` returns a constant zero that
does not require grad, and the trainer skips optimisation for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from neuralmd_core.dynamics._common import check_window, positions, repeat_deterministic
from neuralmd_core.dynamics.base import Method, MethodOptions


class _Reference(Method):
    """A method that repeats one pose computed from the history."""

    trainable: ClassVar[bool] = False

    def pose(self, history: torch.Tensor) -> torch.Tensor:
        """``(H, N, 3)`` history → ``(N, 3)`` predicted pose, Å."""
        raise NotImplementedError

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """A constant 0 (no parameters to train); validates the window. ``requires_grad`` False."""
        pos = check_window(batch, known)
        return torch.zeros((), dtype=pos.dtype, device=pos.device)

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)``: the pose repeated S times (and K times)."""
        pose = self.pose(positions(batch).detach())
        return repeat_deterministic(pose.unsqueeze(0).expand(n_snapshots, -1, -1), samples)


class StaticPose(_Reference):
    """Repeats the last known pose."""

    name: ClassVar[str] = "static"
    Options: ClassVar[type[MethodOptions]] = MethodOptions

    def pose(self, history: torch.Tensor) -> torch.Tensor:
        return history[-1]


class MeanPose(_Reference):
    """Repeats the per-atom mean over every known snapshot."""

    name: ClassVar[str] = "mean-pose"
    Options: ClassVar[type[MethodOptions]] = MethodOptions

    def pose(self, history: torch.Tensor) -> torch.Tensor:
        return history.mean(dim=0)
