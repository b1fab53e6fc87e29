"""NeuralMD-ODE: Newtonian second-order neural ODE on the ligand, integrated by torchdiffeq.

State (x, v), positions Å, velocities Å per snapshot interval, time in snapshot intervals:

    dx/dt = v (+ α·Ref(x) when ``alpha_ref > 0``),     dv/dt = F(x) / m − γ v

F = BindingNet (protein encoded once per call), m = masses / 12 amu, γ ≥ 0 a learned friction
(``friction=False`` gives the purely Newtonian dv/dt = F/m of the paper). v0 is the given
``init_velocity`` or the finite difference of the last two known frames (zero with one frame),
optionally corrected by an equivariant LigandNet. See docs/methods.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import pydantic
import torch
from torch import nn
from torch.nn import functional as F

from neuralmd_core.dynamics._common import (
    check_window,
    history_velocity,
    inv_softplus,
    position_loss,
    positions,
    repeat_deterministic,
)
from neuralmd_core.dynamics._integrators import integrate_newton
from neuralmd_core.dynamics._net import Context, NetMethod, VelocityInit
from neuralmd_core.dynamics.base import MethodOptions
from neuralmd_core.models import ligand_net
from neuralmd_core.models.neighbors import ROLLOUT_SKIN_A


class NeuralMDODEOptions(MethodOptions):
    """Hyper-parameters of ``neuralmd-ode``.

    Attributes:
        solver: fixed-step torchdiffeq method, ``euler`` or ``rk4`` (3/8 rule).
        step: solver step in snapshot intervals (0.5 = the paper's optimum, 2 steps/snapshot).
        adjoint: back-propagate with the adjoint method (``odeint_adjoint``), O(1) memory.
        alpha_ref: α of the velocity refinement dx/dt = v + α·Ref(x); 0 disables Ref (the
            Newtonian default; the reference's multi-trajectory default was 1).
        velocity_net: correct the finite-difference v0 with an equivariant LigandNet.
        rollout_velocity: ``carry`` (one ODE solve over all snapshots, v in the state) or
            ``reestimate`` (the reference's single-trajectory protocol: one solve per snapshot,
            v re-estimated from the last two known/predicted positions).
        time_scaling: the reference's ``scaling``: each snapshot spans 1/time_scaling time units
            and the step is divided by it (reference single-trajectory: 100 with step 1 = one
            Euler step x + 0.01·v). Leave at 1 for the correct method.
        friction: add a learned friction −γ v to dv/dt (γ ≥ 0 per snapshot interval, softplus).
            The training MD is Langevin dynamics sampled far more coarsely than its velocity
            decorrelation time (1 ps snapshots, friction 1/ps); without dissipation a carried
            velocity makes the ligand drift away. ``False`` = the paper's Newtonian ODE.
        friction_init: initial γ, per snapshot interval.
    """

    solver: Literal["euler", "rk4"] = "euler"
    step: float = pydantic.Field(0.5, gt=0)
    adjoint: bool = False
    alpha_ref: float = pydantic.Field(0.0, ge=0)
    velocity_net: bool = True
    rollout_velocity: Literal["carry", "reestimate"] = "carry"
    time_scaling: float = pydantic.Field(1.0, gt=0)
    friction: bool = True
    friction_init: float = pydantic.Field(1.0, gt=0)


class NeuralMDODE(NetMethod):
    """NeuralMD with a deterministic Newtonian ODE."""

    name: ClassVar[str] = "neuralmd-ode"
    Options: ClassVar[type[MethodOptions]] = NeuralMDODEOptions

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__(model_options, options)
        self.build_net()
        self.v_init = VelocityInit(self.model_options, self.options.velocity_net)
        self.ref_net = ligand_net(self.model_options) if self.options.alpha_ref > 0 else None
        if self.options.friction:
            self.raw_friction = nn.Parameter(torch.tensor(inv_softplus(self.options.friction_init)))

    def friction(self) -> torch.Tensor | None:
        """γ ≥ 0 per snapshot interval, or ``None`` for the purely Newtonian ODE."""
        return F.softplus(self.raw_friction) if self.options.friction else None

    def _accel(self, ctx: Context):
        gamma = self.friction()
        if gamma is None:
            return lambda x, v: self.field(ctx, x) / ctx.mass
        return lambda x, v: self.field(ctx, x) / ctx.mass - gamma.to(x.dtype) * v

    def _drift(self, ctx: Context):
        if self.ref_net is None:
            return None
        alpha = self.options.alpha_ref
        return lambda x: alpha * self.ref_net(x, ctx.z, ctx.lig_batch)[1]

    def _solve(self, ctx: Context, x0: torch.Tensor, v0: torch.Tensor, n: int) -> torch.Tensor:
        """Positions ``(n, N, 3)`` at snapshots 1..n from (x0, v0)."""
        o = self.options
        xs, _ = integrate_newton(
            self._accel(ctx),
            x0,
            v0,
            n,
            o.step,
            o.solver,
            drift=self._drift(ctx),
            adjoint=o.adjoint,
            adjoint_params=self.parameters_requiring_grad() if o.adjoint else (),
            time_scaling=o.time_scaling,
        )
        return xs

    def predict(self, batch: Mapping[str, Any], history: torch.Tensor, n: int) -> torch.Tensor:
        """Predict ``n`` snapshots after ``history (H, N, 3)`` → ``(n, N, 3)`` Å (differentiable)."""
        ctx = self.context(batch, skin=0.0 if self.training else ROLLOUT_SKIN_A)
        if self.options.rollout_velocity == "carry":
            x0 = history[-1]
            return self._solve(ctx, x0, self.v_init(ctx, x0, history_velocity(batch, history)), n)
        frames = list(history[-2:])
        raw = history_velocity(batch, history)
        for _ in range(n):
            x0 = frames[-1]
            frames.append(self._solve(ctx, x0, self.v_init(ctx, x0, raw), 1)[0])
            raw = frames[-1] - frames[-2]
        return torch.stack(frames[-n:]) if n else history[:0]

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """Roll out frames ``known..T-1`` from the first ``known`` and compare (mean over horizon)."""
        pos = check_window(batch, known)
        pred = self.predict(batch, pos[:known], pos.shape[0] - known)
        return position_loss(pred, pos[known:], loss)

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å; deterministic, so the K samples are identical."""
        with torch.no_grad():
            pred = self.predict(batch, positions(batch), n_snapshots)
        return repeat_deterministic(pred, samples)
