"""VerletMD: a learned energy E(x) (kcal/mol), forces −∇E by autograd, real velocity Verlet.

Physical units inside: positions Å, velocities Å/ps, masses amu, forces kcal/mol/Å, time ps
(one snapshot = ``snapshot_interval_ps``, split into ``steps_per_snapshot`` Verlet steps).
Training: L1 between E(x_t) and the batch's ``ENERGY`` labels (kcal/mol) for every frame of the
window, when the batch has them, plus ``position_weight`` × the position loss of a short
rollout (create_graph, so the forces are trained through the integrator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pydantic
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics._common import (
    check_window,
    history_velocity,
    position_loss,
    positions,
    repeat_deterministic,
)
from neuralmd_core.dynamics._integrators import velocity_verlet
from neuralmd_core.dynamics._net import Context, NetMethod
from neuralmd_core.dynamics.base import MethodOptions


class VerletMDOptions(MethodOptions):
    """Hyper-parameters of ``verlet-md``.

    Attributes:
        steps_per_snapshot: velocity-Verlet steps per snapshot interval.
        snapshot_interval_ps: the data's snapshot interval, ps (the trainer sets it from the data).
        energy_weight: weight of the energy L1 loss (kcal/mol), used when the batch has labels.
        position_weight: weight of the rollout position loss (Å or Å²).
        loss_horizon: snapshots rolled out for the position loss (at most T − known).
    """

    steps_per_snapshot: int = pydantic.Field(10, ge=1)
    snapshot_interval_ps: float = pydantic.Field(1.0, gt=0)
    energy_weight: float = pydantic.Field(1.0, ge=0)
    position_weight: float = pydantic.Field(1.0, ge=0)
    loss_horizon: int = pydantic.Field(1, ge=1)


class VerletMD(NetMethod):
    """Energy-based baseline integrated with velocity Verlet."""

    name: ClassVar[str] = "verlet-md"
    Options: ClassVar[type[MethodOptions]] = VerletMDOptions
    #: the rollout engine must not disable autograd: forces are −∇E
    needs_grad_in_rollout: ClassVar[bool] = True

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__(model_options, options)
        self.build_net()

    def energy(self, ctx: Context, x: torch.Tensor) -> torch.Tensor:
        """``(B,)`` kcal/mol at positions ``x (N, 3)`` Å."""
        return self.net.energy(x, ctx.z, ctx.lig_batch, ctx.protein, ctx.num_systems)

    def forces(self, ctx: Context, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """−∂ΣE/∂x ``(N, 3)`` kcal/mol/Å; ``create_graph`` to train through it."""
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(ctx, x).sum(), x, create_graph=create_graph)
        return -grad if create_graph else -grad.detach()

    def predict(
        self, batch: Mapping[str, Any], history: torch.Tensor, n: int, create_graph: bool = False
    ) -> torch.Tensor:
        """``n`` snapshots after ``history (H, N, 3)`` → ``(n, N, 3)`` Å."""
        o = self.options
        ctx = self.context(batch)
        masses = batch[keys.LIG_MASS].to(history.dtype)
        x = history[-1]
        v = history_velocity(batch, history) / o.snapshot_interval_ps
        dt = o.snapshot_interval_ps / o.steps_per_snapshot
        force, out = None, []
        for _ in range(n):
            x, v, force = velocity_verlet(
                x,
                v,
                lambda y: self.forces(ctx, y, create_graph),
                masses,
                dt,
                o.steps_per_snapshot,
                force,
            )
            out.append(x if create_graph else x.detach())
            if not create_graph:
                v = v.detach()
        return torch.stack(out) if out else history[:0]

    def energy_loss(self, batch: Mapping[str, Any], pos: torch.Tensor) -> torch.Tensor:
        """Mean |E(x_t) − label_t| over systems and frames of the window, kcal/mol."""
        t, n = pos.shape[0], pos.shape[1]
        ctx = self.context(batch).replicate(t)
        pred = self.energy(ctx, pos.reshape(t * n, 3)).reshape(t, -1)
        return (pred - batch[keys.ENERGY].to(pred.dtype).T).abs().mean()

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """energy_weight · L1(E, labels) [if labels] + position_weight · rollout position loss."""
        pos = check_window(batch, known)
        o = self.options
        has_labels = batch.get(keys.ENERGY) is not None
        total = pos.new_zeros(())
        if has_labels and o.energy_weight > 0:
            total = total + o.energy_weight * self.energy_loss(batch, pos)
        if o.position_weight > 0 or not has_labels:
            weight = o.position_weight if o.position_weight > 0 else 1.0
            h = min(o.loss_horizon, pos.shape[0] - known)
            pred = self.predict(batch, pos[:known], h, create_graph=True)
            total = total + weight * position_loss(pred, pos[known : known + h], loss)
        return total

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å by velocity Verlet; deterministic."""
        return repeat_deterministic(
            self.predict(batch, positions(batch).detach(), n_snapshots), samples
        )
