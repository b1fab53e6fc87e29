"""GNN-MD: BindingNet predicts the displacement to the next snapshot; rolled out autoregressively.

x̂_{t+1} = x̂_t + Δ(x̂_t),  Δ = BindingNet(x_t, vec_in = x_t − x_{t−1}) in Å (the velocity input
is optional; zero when only one frame is known). Training is teacher-forced on every consecutive
pair t → t+1 of the window with t ≥ known−1, all pairs in one batched network call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from neuralmd_core.dynamics._common import (
    INIT_VELOCITY,
    check_window,
    position_loss,
    positions,
    repeat_deterministic,
)
from neuralmd_core.dynamics._net import Context, NetMethod
from neuralmd_core.dynamics.base import MethodOptions
from neuralmd_core.models.neighbors import ROLLOUT_SKIN_A


class GNNMDOptions(MethodOptions):
    """Hyper-parameters of ``gnn-md``.

    Attributes:
        velocity_input: feed the previous displacement x_t − x_{t−1} (Å per snapshot interval) to
            the network as an equivariant input (the reference fed positions only).
    """

    velocity_input: bool = True


def pair_inputs(pos: torch.Tensor, known: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced pairs of a window ``(T, N, 3)``: t = known−1 .. T−2.

    Returns:
        ``x_t``, ``x_{t−1}`` (``x_t`` itself at t = 0) and ``x_{t+1}``, each ``(P, N, 3)``.
    """
    first = known - 1
    cur = pos[first:-1]
    prev = torch.cat([pos[first - 1 : first] if first > 0 else pos[:1], pos[first:-2]])
    return cur, prev, pos[first + 1 :]


class GNNMD(NetMethod):
    """Autoregressive displacement predictor."""

    name: ClassVar[str] = "gnn-md"
    Options: ClassVar[type[MethodOptions]] = GNNMDOptions

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__(model_options, options)
        self.build_net(vec_in=self.options.velocity_input)

    def step(self, ctx: Context, x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """One snapshot: ``x (N,3)``, ``prev (N,3)`` Å → ``x + Δ`` ``(N,3)`` Å."""
        vec = x - prev if self.options.velocity_input else None
        return x + self.field(ctx, x, vec_in=vec)

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """Teacher-forced one-step loss averaged over the window's pairs."""
        pos = check_window(batch, known)
        cur, prev, target = pair_inputs(pos, known)
        p, n = cur.shape[0], cur.shape[1]
        ctx = self.context(batch).replicate(p)
        pred = self.step(ctx, cur.reshape(p * n, 3), prev.reshape(p * n, 3))
        return position_loss(pred.reshape(p, n, 3), target, loss)

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å, autoregressive; deterministic."""
        hist = positions(batch)
        with torch.no_grad():
            ctx = self.context(batch, skin=ROLLOUT_SKIN_A)
            x = hist[-1]
            prev = hist[-2] if hist.shape[0] > 1 else x
            if batch.get(INIT_VELOCITY) is not None:
                prev = x - batch[INIT_VELOCITY]
            out = []
            for _ in range(n_snapshots):
                x, prev = self.step(ctx, x, prev), x
                out.append(x)
            pred = torch.stack(out) if out else hist[:0]
        return repeat_deterministic(pred, samples)
