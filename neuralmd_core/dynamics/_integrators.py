"""Integrators: second-order neural ODE (torchdiffeq), Langevin SDE (torchsde), velocity Verlet.

Time in the ODE/SDE integrators is in snapshot intervals (positions Å, velocities Å per interval);
:func:`velocity_verlet` works in physical units (Å, ps, amu, kcal/mol).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torchdiffeq
import torchsde
from torch import nn

#: 1 kcal/mol/Å / amu expressed in Å/ps² (4184 J/kcal / (1e-3 kg/mol · 1e-20 m²/Å² ...) = 418.4).
KCAL_PER_MOL_A_AMU_TO_A_PS2: float = 418.4

Field = Callable[[torch.Tensor], torch.Tensor]
ODE_SOLVERS = ("euler", "rk4")


class _Newton(nn.Module):
    """Right-hand side of dx/dt = v + u(x), dv/dt = a(x, v) for torchdiffeq (state (x, v))."""

    def __init__(
        self, accel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], drift: Field | None
    ):
        super().__init__()
        self.accel = accel
        self.drift = drift

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x, v = state
        dx = v if self.drift is None else v + self.drift(x)
        return dx, self.accel(x, v)


def time_grid(n_snapshots: int, like: torch.Tensor, time_scaling: float = 1.0) -> torch.Tensor:
    """Output times 0, 1, ..., S in snapshot intervals, divided by ``time_scaling``."""
    return torch.arange(n_snapshots + 1, dtype=like.dtype, device=like.device) / time_scaling


def integrate_newton(
    accel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    v0: torch.Tensor,
    n_snapshots: int,
    step: float,
    solver: str = "euler",
    drift: Field | None = None,
    adjoint: bool = False,
    adjoint_params: Sequence[torch.Tensor] = (),
    time_scaling: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate the second-order ODE ẋ = v (+ drift(x)), v̇ = accel(x, v) on a fixed grid.

    Args:
        accel: ``(x (N,3), v (N,3)) -> (N,3)`` acceleration, Å per interval².
        x0: ``(N, 3)`` Å.  v0: ``(N, 3)`` Å per snapshot interval.
        n_snapshots: number of snapshots S to output (times 1..S).
        step: solver step, snapshot intervals (0.5 = two steps per snapshot).
        solver: ``"euler"`` or ``"rk4"`` (torchdiffeq's 3/8-rule RK4).
        drift: optional extra velocity term u(x) (the reference's α·Ref(x)).
        adjoint: use ``odeint_adjoint`` (memory O(1) in the horizon) with ``adjoint_params``.
        time_scaling: the reference's ``scaling``: times and step are divided by it.

    Returns:
        Positions ``(S, N, 3)`` at snapshots 1..S and velocities ``(S, N, 3)``.
    """
    if solver not in ODE_SOLVERS:
        raise ValueError(f"unknown ODE solver {solver!r}; choose from {ODE_SOLVERS}")
    func = _Newton(accel, drift)
    t = time_grid(n_snapshots, x0, time_scaling)
    kwargs = {"method": solver, "options": {"step_size": step / time_scaling}}
    if adjoint:
        xs, vs = torchdiffeq.odeint_adjoint(
            func, (x0, v0), t, adjoint_params=tuple(adjoint_params), **kwargs
        )
    else:
        xs, vs = torchdiffeq.odeint(func, (x0, v0), t, **kwargs)
    return xs[1:], vs[1:]


class LangevinSDE(nn.Module):
    """Langevin dynamics for torchsde: state y = [x, v] per atom ``(N, 6)``, Itô, diagonal noise.

    dx = v dt;  dv = (a(x) − γ v) dt + σ(x) dW,  σ(x) ``(N, 1)`` isotropic per atom (noise on v
    only). Units: Å and snapshot intervals (σ in Å · interval^-3/2).
    """

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, accel: Field, gamma: Callable[[], torch.Tensor], sigma: Field):
        super().__init__()
        self.accel = accel
        self.gamma = gamma
        self.sigma = sigma

    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, v = y[:, :3], y[:, 3:]
        return torch.cat([v, self.accel(x) - self.gamma() * v], dim=1)

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sig = self.sigma(y[:, :3]).expand(-1, 3)
        return torch.cat([torch.zeros_like(sig), sig], dim=1)


def integrate_langevin(
    sde: LangevinSDE,
    x0: torch.Tensor,
    v0: torch.Tensor,
    n_snapshots: int,
    step: float,
    seed: int,
    adjoint: bool = False,
    adjoint_params: Sequence[torch.Tensor] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euler–Maruyama integration of a :class:`LangevinSDE` (noise scaled by √dt by torchsde).

    Args:
        x0, v0: ``(N, 3)`` Å and Å per snapshot interval (N may hold several samples).
        n_snapshots: S, outputs at times 1..S (snapshot intervals).
        step: fixed dt, snapshot intervals.
        seed: entropy of the Brownian motion; the same seed gives the same path.

    Returns:
        Positions and velocities ``(S, N, 3)`` at snapshots 1..S.
    """
    y0 = torch.cat([x0, v0], dim=1)
    ts = time_grid(n_snapshots, x0)
    bm = torchsde.BrownianInterval(
        t0=0.0,
        t1=float(n_snapshots),
        size=tuple(y0.shape),
        dtype=y0.dtype,
        device=y0.device,
        entropy=seed,
        dt=step,
        levy_area_approximation="none",
    )
    if adjoint:
        ys = torchsde.sdeint_adjoint(
            sde, y0, ts, bm=bm, method="euler", dt=step, adjoint_params=tuple(adjoint_params)
        )
    else:
        ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=step)
    return ys[1:, :, :3], ys[1:, :, 3:]


def velocity_verlet(
    x: torch.Tensor,
    v: torch.Tensor,
    force_fn: Field,
    masses_amu: torch.Tensor,
    dt_ps: float,
    n_steps: int,
    force: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Velocity Verlet in physical units.

    Each step: v ← v + ½ a(x) dt;  x ← x + v dt;  a ← F(x)/m;  v ← v + ½ a dt, with
    a [Å/ps²] = 418.4 · F [kcal/mol/Å] / m [amu]. The force at the end of a step is reused at the
    start of the next one (one new force evaluation per step).

    Args:
        x: ``(N, 3)`` Å.  v: ``(N, 3)`` Å/ps.
        force_fn: ``(N, 3)`` positions → ``(N, 3)`` forces, kcal/mol/Å.
        masses_amu: ``(N,)`` amu.
        dt_ps: time step, ps.
        n_steps: number of steps.
        force: the force at ``x`` if already known (saves one evaluation).

    Returns:
        ``(x, v, force)`` after ``n_steps``: Å, Å/ps, kcal/mol/Å.
    """
    inv_m = KCAL_PER_MOL_A_AMU_TO_A_PS2 / masses_amu.unsqueeze(-1)
    f = force_fn(x) if force is None else force
    for _ in range(n_steps):
        v = v + 0.5 * dt_ps * f * inv_m
        x = x + dt_ps * v
        f = force_fn(x)
        v = v + 0.5 * dt_ps * f * inv_m
    return x, v, f
