"""DenoisingLD: a conditional denoising score model of the next snapshot, sampled by reverse
diffusion (or, optionally, annealed Langevin dynamics).

Training (denoising score matching, σ²-weighted): perturb x_{t+1} as x̃ = x_{t+1} + σ ε with σ
log-uniform in [sigma_min, sigma_max] Å (one σ per system and pair). The network sees x̃ as
positions, the condition x_t through vec_in = (x_t − x̃)/√(σ² + data_sigma²) (equivariant) and σ
through scalar_in = a Fourier embedding of log σ; with the preconditioning of
:meth:`DenoisingLD.noise_prediction` it gives ε̂, so the score is s(x̃) = −ε̂/σ and
σ²·|s − (−(x̃ − x_{t+1})/σ²)|² = |ε̂ − ε|². A zero score scores E|ε|² = 1.

Sampling (per snapshot), along the geometric schedule σ_1 = sigma_max … σ_L = sigma_min
(``substeps`` levels): ``ancestral`` (default) x ← x_t + √(σ_max² + τ²)·z, then
x ← x + Δ_i s(x, σ_i) + √(Δ_i (1 − Δ_i/(τ² + σ_i²))) z, Δ_i = σ_i² − σ_{i+1}² (exact for a
Gaussian target of variance τ², so it converges); ``annealed-langevin`` x ← x_t + sigma_max·z,
then x ← x + (α/2) s(x, σ_i) + √α z with α = step_lr·σ_i² (one step per level: over-dispersed).
Either ends (``final_denoise``) with the Tweedie step x ← x + σ_L² s(x, σ_L).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import pydantic
import torch

from neuralmd_core.dynamics._common import check_window, positions
from neuralmd_core.dynamics._net import Context, NetMethod
from neuralmd_core.dynamics.base import MethodOptions
from neuralmd_core.dynamics.gnn_md import pair_inputs
from neuralmd_core.models.neighbors import ROLLOUT_SKIN_A

_NUM_FREQ = 4
SIGMA_EMBED_DIM = 1 + 2 * _NUM_FREQ
#: soft bound on the per-atom norm of the network output (in units of the unit-variance noise ε):
#: a correct model never needs |ε̂| ≫ 3, and the bound keeps an untrained or out-of-distribution
#: network from driving the sampler to infinity
OUTPUT_BOUND = 5.0


def soft_bound(vec: torch.Tensor, bound: float = OUTPUT_BOUND) -> torch.Tensor:
    """Rescale each row of ``vec (N, 3)`` to norm ``bound·tanh(|v|/bound)`` (equivariant)."""
    norm = vec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return vec * (bound * torch.tanh(norm / bound) / norm)


class DenoisingLDOptions(MethodOptions):
    """Hyper-parameters of ``denoising-ld``.

    Attributes:
        sigma_min: smallest noise level, Å.
        sigma_max: largest noise level, Å (start of sampling).
        substeps: annealed Langevin substeps per snapshot (the paper's 10).
        step_lr: Langevin step α_i = step_lr·σ_i² (Å²).
        data_sigma: τ, typical per-coordinate displacement per snapshot, Å (preconditioning).
        final_denoise: finish each snapshot with a noise-free Tweedie step at sigma_min.
        sampler: ``ancestral`` (default): reverse diffusion from y ~ N(x_t, σ_max² + τ²) down the
            levels, y ← y + Δ_i s(y, σ_i) + √(Δ_i (1 − Δ_i / (τ² + σ_i²))) z with
            Δ_i = σ_i² − σ_{i+1}² — the exact reverse transition when the target is Gaussian with
            per-coordinate variance τ² (the preconditioner's prior; Bao et al. 2022's optimal
            variance), so it converges at any number of levels; ``annealed-langevin``: the
            previous one Langevin step per level from y ~ N(x_t, σ_max²) (std 0.84 for a
            target of 0.5 at 10 levels).
    """

    sigma_min: float = pydantic.Field(0.01, gt=0)
    sigma_max: float = pydantic.Field(1.0, gt=0)
    substeps: int = pydantic.Field(10, ge=1)
    step_lr: float = pydantic.Field(1.0, gt=0, le=2)
    data_sigma: float = pydantic.Field(0.5, gt=0)
    final_denoise: bool = True
    sampler: Literal["ancestral", "annealed-langevin"] = "ancestral"

    @pydantic.model_validator(mode="after")
    def _check_sigmas(self) -> DenoisingLDOptions:
        if self.sigma_max <= self.sigma_min:
            raise ValueError("sigma_max must exceed sigma_min")
        return self


def _randn(
    shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


class DenoisingLD(NetMethod):
    """Conditional score model + annealed Langevin sampler."""

    name: ClassVar[str] = "denoising-ld"
    Options: ClassVar[type[MethodOptions]] = DenoisingLDOptions
    stochastic: ClassVar[bool] = True
    default_loss: ClassVar[Mapping[str, str]] = {"single": "mse", "multi": "mse"}

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__(model_options, options)
        self.build_net(vec_in=True, scalar_in_dim=SIGMA_EMBED_DIM)

    def sigma_embedding(self, sigma: torch.Tensor) -> torch.Tensor:
        """``sigma (N, 1)`` Å → ``(N, 9)`` [c, sin(kπc), cos(kπc)], c = normalised log σ ∈ [0, 1]."""
        o = self.options
        c = torch.log(sigma / o.sigma_min) / math.log(o.sigma_max / o.sigma_min)
        k = torch.arange(1, _NUM_FREQ + 1, dtype=sigma.dtype, device=sigma.device) * math.pi
        return torch.cat([c, torch.sin(k * c), torch.cos(k * c)], dim=-1)

    def noise_prediction(
        self, ctx: Context, x_noisy: torch.Tensor, x_cond: torch.Tensor, sigma: torch.Tensor
    ) -> torch.Tensor:
        """ε̂ ``(N, 3)`` (dimensionless); the score is −ε̂/σ in Å⁻¹. ``sigma (N, 1)`` Å.

        Preconditioned as in Karras et al. (2022) around the condition: the denoised estimate
        D = x_t + c_skip·(x̃ − x_t) + c_out·F(x̃, c_in·(x_t − x̃), σ) with c_skip = τ²/(σ²+τ²),
        c_out = στ/√(σ²+τ²), c_in = 1/√(σ²+τ²), τ = ``data_sigma``, F soft-bounded to a per-atom
        norm of ``OUTPUT_BOUND``; ε̂ = (x̃ − D)/σ. Without F
        this is the exact denoiser of a Gaussian N(x_t, τ²) prior, so sampling contracts towards
        the condition instead of amplifying out-of-distribution network outputs.
        """
        tau2 = self.options.data_sigma**2
        norm = torch.sqrt(sigma**2 + tau2)
        offset = x_noisy - x_cond
        out = self.field(ctx, x_noisy, vec_in=-offset / norm, scalar_in=self.sigma_embedding(sigma))
        out = soft_bound(out)
        denoised = x_cond + tau2 / norm**2 * offset + sigma * self.options.data_sigma / norm * out
        return (x_noisy - denoised) / sigma

    def schedule(self, like: torch.Tensor) -> torch.Tensor:
        """The ``substeps`` sampling levels, geometric from sigma_max down to sigma_min, Å."""
        o = self.options
        if o.substeps == 1:
            return torch.tensor([o.sigma_min], dtype=like.dtype, device=like.device)
        ratio = torch.linspace(0.0, 1.0, o.substeps, dtype=like.dtype, device=like.device)
        return o.sigma_max * (o.sigma_min / o.sigma_max) ** ratio

    def dsm_loss(
        self, batch: Mapping[str, Any], known: int, zero_score: bool = False
    ) -> torch.Tensor:
        """σ²-weighted DSM loss mean |ε̂ − ε|² over the window's pairs; ``zero_score``: ε̂ = 0."""
        pos = check_window(batch, known)
        cur, _, target = pair_inputs(pos, known)
        p, n = cur.shape[0], cur.shape[1]
        ctx = self.context(batch).replicate(p)
        o = self.options
        u = torch.rand((ctx.num_systems, 1), dtype=pos.dtype, device=pos.device)
        sigma = (o.sigma_min * (o.sigma_max / o.sigma_min) ** u)[ctx.lig_batch]
        eps = torch.randn_like(target.reshape(p * n, 3))
        noisy = target.reshape(p * n, 3) + sigma * eps
        if zero_score:
            return eps.pow(2).mean()
        pred = self.noise_prediction(ctx, noisy, cur.reshape(p * n, 3), sigma)
        return (pred - eps).pow(2).mean()

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """The DSM loss (always squared: score matching; ``loss`` is ignored)."""
        return self.dsm_loss(batch, known)

    def sample_next(
        self, ctx: Context, x: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """One snapshot from the condition ``x (N, 3)`` Å → ``(N, 3)`` Å (see ``sampler``)."""
        o = self.options
        levels = self.schedule(x)
        tau2 = o.data_sigma**2

        def score(y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            sig = sigma.expand(x.shape[0], 1)
            return -self.noise_prediction(ctx, y, x, sig) / sig

        if o.sampler == "ancestral":
            y = x + math.sqrt(o.sigma_max**2 + tau2) * _randn(tuple(x.shape), x, generator)
            for hi, lo in zip(levels[:-1], levels[1:]):
                delta = hi**2 - lo**2
                var = delta * (1 - delta / (tau2 + hi**2))
                y = (
                    y
                    + delta * score(y, hi)
                    + torch.sqrt(var) * _randn(tuple(x.shape), x, generator)
                )
        else:
            y = x + o.sigma_max * _randn(tuple(x.shape), x, generator)
            for sigma in levels:
                alpha = o.step_lr * sigma**2
                y = y + 0.5 * alpha * score(y, sigma)
                y = y + torch.sqrt(alpha) * _randn(tuple(x.shape), x, generator)
        if o.final_denoise:
            y = y + levels[-1] ** 2 * score(y, levels[-1])
        return y

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å; the K samples run as one batch of K replicas."""
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        hist = positions(batch)
        n_atoms = hist.shape[1]
        with torch.no_grad():
            ctx = self.context(batch, skin=ROLLOUT_SKIN_A).replicate(samples)
            x = hist[-1].repeat(samples, 1)
            out = []
            for _ in range(n_snapshots):
                x = self.sample_next(ctx, x, generator)
                out.append(x.reshape(samples, n_atoms, 3))
        if not out:
            return hist.new_zeros((samples, 0, n_atoms, 3))
        return torch.stack(out, dim=1)
