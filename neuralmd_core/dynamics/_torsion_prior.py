"""Torsion prior of the manifold SDE: each rotatable torsion's potential of mean force from the
known history, by Boltzmann inversion (the torsion priors of CGSchNet, fitted per rollout).

A rollout that starts from H ≥ ``MIN_HISTORY`` known snapshots knows each torsion's population
in the bound state, including rotamers the ligand flips between. The prior is the von Mises
kernel density of the history's dihedrals φ_h, with U_t(φ) = −log p_t(φ):

    p_t(φ) ∝ Σ_h exp(κ_t cos(φ − φ_{t,h})),     κ_t = 1 / σ_b²,
    σ_b = clip(1.06 σ̂_t H^(−1/5), BANDWIDTH_MIN_RAD, BANDWIDTH_MAX_RAD)

(σ̂_t the circular standard deviation, √(−2 ln R̄)). In the sampler the torsions then follow
overdamped Langevin dynamics in U: the drift ½ Σ ∇_φ log p, where Σ (rad² per interval) is the
covariance of the torsion increments of the projected noise (``_brownian``), so the stationary
torsion distribution alone would be p whatever the noise level (the noise sets the rate). The
kernel density is stiff and rough (curvature up to κ, several hundred rad⁻²), so the prior is
not added to the move's drift by Euler: :class:`TorsionFlow` integrates the torsions over each
move in inner Euler–Maruyama steps in dihedral space (cheap: angles only, no geometry), each of
restoring fraction ½ Σ_tt κ_t ≤ ``INNER_RATE``, with the move's network drift spread evenly over
them and its noise split into a Brownian bridge (independent pieces that sum to the move's own
noise), and applies the sum as one exact move; the prior adds no network evaluation and no move.
A Strang split instead (half the flow, the noise, half the flow) smooths p: +21 % variance at a
restoring fraction of 1 per move on a test density. The
drift of the network and the tether is kept: without it the steric wall's pushes widened the
torsions (11GS torsion JSD 0.19). With one known pose (a PDB and SDF) there is no prior.

Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neuralmd_core.data.ligand_graph import LigandGraph

#: fewest known snapshots that define a prior
MIN_HISTORY = 20
#: kernel bandwidth bounds, rad
BANDWIDTH_MIN_RAD, BANDWIDTH_MAX_RAD = 0.05, 0.5
#: largest restoring fraction ½ Σ_tt κ_t per inner step of :class:`TorsionFlow`
INNER_RATE = 0.25


def circular_variance(samples: torch.Tensor) -> torch.Tensor:
    """−2 ln R̄ (rad², the squared circular standard deviation) over the last axis of angles
    ``samples`` (rad); R̄ is the mean resultant length."""
    r = torch.exp(1j * samples).mean(-1).abs().clamp(1e-12, 1.0)
    return -2 * torch.log(r)


def dihedrals(xp: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    """Dihedral angles ``(..., S, T)`` rad in [−π, π] of padded positions ``xp (..., S, N, 3)``
    for local atom quadruples ``quads (S, T, 4)`` (the convention of ``evaluation.realism``)."""
    s_n, t_n, _ = quads.shape
    idx = quads.reshape(s_n, 4 * t_n, 1).expand(-1, -1, 3)
    idx = idx.expand(*xp.shape[:-3], -1, -1, -1)
    p = torch.gather(xp, -2, idx).reshape(*xp.shape[:-2], t_n, 4, 3)
    b0, b1, b2 = (
        p[..., 0, :] - p[..., 1, :],
        p[..., 2, :] - p[..., 1, :],
        p[..., 3, :] - p[..., 2, :],
    )
    b1n = b1 / b1.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    return torch.atan2((torch.cross(b1n, v, dim=-1) * w).sum(-1), (v * w).sum(-1))


@dataclass
class TorsionPrior:
    """Kernel densities of every torsion of S padded systems.

    Attributes:
        quads: ``(S, T_max, 4)`` local atoms (i, j, k, l), oriented like ``Manifold.axes``.
        samples: ``(S, T_max, H)`` rad, the history's dihedrals.
        kappa: ``(S, T_max)`` kernel concentration, rad⁻².
        live: ``(S, T_max)`` bool, real torsions.
    """

    quads: torch.Tensor
    samples: torch.Tensor
    kappa: torch.Tensor
    live: torch.Tensor

    @classmethod
    def from_history(
        cls, graphs: Sequence[LigandGraph], history: torch.Tensor, t_max: int
    ) -> TorsionPrior | None:
        """The prior of padded ``history (H, S, N_max, 3)`` Å, or None when H < ``MIN_HISTORY``
        or no system has a torsion (``graphs``: one per system, ``t_max`` torsion columns)."""
        h = history.shape[0]
        if h < MIN_HISTORY or t_max == 0:
            return None
        s_n = len(graphs)
        quads = torch.zeros((s_n, t_max, 4), dtype=torch.long, device=history.device)
        live = torch.zeros((s_n, t_max), dtype=torch.bool, device=history.device)
        for s, g in enumerate(graphs):
            t = len(g.axes)
            if t:
                q = torch.stack([torch.as_tensor(a) for a in (g.ends[:, 0], g.axes[:, 0],
                                                             g.axes[:, 1], g.ends[:, 1])], -1)  # fmt: skip
                quads[s, :t], live[s, :t] = q.to(history.device), True
        samples = dihedrals(history.double(), quads).permute(1, 2, 0)  # (S, T, H)
        sigma = circular_variance(samples).sqrt() * 1.06 * h ** (-0.2)
        sigma = sigma.clamp(BANDWIDTH_MIN_RAD, BANDWIDTH_MAX_RAD)
        return cls(quads, samples, sigma.pow(-2), live)

    def replicate(self, k: int) -> TorsionPrior:
        """``k`` copies laid out like ``Manifold.replicate``."""
        if k == 1:
            return self
        return TorsionPrior(*(torch.cat([t] * k) for t in (self.quads, self.samples, self.kappa,
                                                             self.live)))  # fmt: skip

    def grad_log_p(self, phi: torch.Tensor) -> torch.Tensor:
        """∂ log p / ∂φ ``(S, T_max)`` rad⁻¹ at dihedrals ``phi (S, T_max)`` rad (0 where
        padded)."""
        diff = phi.double().unsqueeze(-1) - self.samples
        kap = self.kappa.unsqueeze(-1)
        weight = torch.softmax(kap * torch.cos(diff), dim=-1)
        grad = -(kap * weight * torch.sin(diff)).sum(-1)
        return torch.where(self.live, grad, torch.zeros_like(grad)).to(phi.dtype)

    def rate(self, sigma: torch.Tensor) -> float:
        """The largest restoring fraction per interval of the drift ½ Σ ∇ log p at its stiffest,
        ½ Σ_tt κ_t (``sigma (S, T_max, T_max)`` rad² per interval; the curvature of a kernel
        density is at most its κ); 0 without torsions."""
        rate = 0.5 * sigma.diagonal(dim1=-2, dim2=-1) * self.kappa.to(sigma) * self.live
        return float(rate.max()) if rate.numel() else 0.0


class TorsionFlow:
    """The torsions' overdamped Langevin dynamics in the prior over each move (module docs).

    Args:
        prior: the systems' torsion densities.
        sigma: ``(S, T_max, T_max)`` rad² per interval, the covariance of the torsion increments
            of the sampler's noise (0 in padded rows and columns).
    """

    def __init__(self, prior: TorsionPrior, sigma: torch.Tensor):
        self.prior, self.sigma = prior, sigma.double()
        self.rate = prior.rate(self.sigma)  # restoring fraction per interval at the stiffest
        lam, vec = torch.linalg.eigh(self.sigma)
        self.root = vec * lam.clamp_min(0).sqrt().unsqueeze(-2)  # root @ rootᵀ = Σ
        self.live = prior.live.double()

    def drift(self, phi: torch.Tensor) -> torch.Tensor:
        """½ Σ ∇ log p ``(S, T_max)`` rad per interval at dihedrals ``phi (S, T_max)`` rad."""
        grad = self.prior.grad_log_p(phi.double())
        return 0.5 * (self.sigma @ grad.unsqueeze(-1)).squeeze(-1)

    def inner(self, tau: float) -> int:
        """Inner steps of a move of ``tau`` intervals (``INNER_RATE``)."""
        return max(1, math.ceil(self.rate * tau / INNER_RATE))

    def advance(self, phi: torch.Tensor, dq: torch.Tensor, tau: float, noise) -> torch.Tensor:
        """Dihedrals ``phi (S, T_max)`` rad after one move of ``tau`` intervals whose other
        increments (network drift and noise) are ``dq (S, T_max)`` rad: :meth:`inner` Euler
        steps of the prior's drift, each adding its share of ``dq`` and a Brownian-bridge piece
        (``noise``: a ``_brownian.Noise``). Not wrapped: ``advance(φ) − φ`` is the increment."""
        n = self.inner(tau)
        phi, dq = phi.double(), dq.double()
        if n > 1:
            z = self.root @ noise.normal(*phi.shape, n).double() * (tau / n) ** 0.5
            z = (z - z.mean(-1, keepdim=True)) * self.live.unsqueeze(-1)
        for i in range(n):
            phi = phi + (tau / n) * self.drift(phi) + dq / n + (z[..., i] if n > 1 else 0.0)
        return phi

    def step(self, xp: torch.Tensor, q: torch.Tensor, tau: float, noise) -> torch.Tensor:
        """Generalized increments ``q (S, Q)`` of a move of ``tau`` at padded ``xp (S, N_max, 3)``
        Å with their torsion columns carried through :meth:`advance`."""
        phi = dihedrals(xp.double(), self.prior.quads)
        tors = self.advance(phi, q[:, 6:], tau, noise) - phi
        return torch.cat([q[:, :6], tors.to(q)], dim=1)
