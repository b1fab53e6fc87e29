"""NeuralMD-SDE: stochastic dynamics of the ligand driven by BindingNet.

``sampler="manifold"`` (the default, MD-like): overdamped Langevin (Brownian) dynamics of the
ligand's rigid-body pose and torsions, with BindingNet's force over the friction as the drift,
noise fitted to the data, exact bond-preserving moves and equilibrium fast vibrations
(``_manifold_sde``, ``_brownian``, ``_manifold``). It has no velocities.

``sampler="langevin"`` (the previous form, kept for comparison): state (x, v) per atom, Å and Å per snapshot interval, time in snapshot intervals:

    dx = v dt,    dv = (F(x)/m − γ v) dt + σ(x) dW

F = BindingNet, m = masses / 12 amu, γ = softplus(learned) ≥ 0 (per snapshot interval),
σ(x) = softplus(Linear(LigandNet(x).s)) ≥ 0 one scalar per atom (isotropic noise, so the
dynamics is SE(3)-equivariant in distribution); no noise on x. torchsde scales the noise by √dt.
K samples come from one batched solve over K replicas of the batch; the Brownian motion's
entropy is drawn from the caller's generator, so a seed fixes every sample.

``paper_compat=True`` instead reproduces the reference's "SDE": an ODE (torchdiffeq, Euler) with
force F(x) + γ ⊙ ε ⊙ Σ(x), γ ∈ R^{1×3} (init 10), ε ~ N(0,1) ``(N,1)`` redrawn at every
evaluation and not scaled by √dt, Σ a LigandNet vector output.
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
    seed_from,
)
from neuralmd_core.dynamics._integrators import LangevinSDE, integrate_langevin, integrate_newton
from neuralmd_core.dynamics._manifold_sde import ManifoldSampler
from neuralmd_core.dynamics._net import Context, NetMethod, VelocityInit
from neuralmd_core.dynamics.base import MethodOptions
from neuralmd_core.models import ligand_net


class NeuralMDSDEOptions(MethodOptions):
    """Hyper-parameters of ``neuralmd-sde``.

    Attributes:
        sampler: ``manifold`` (default): Brownian dynamics on the bond-preserving manifold;
            ``langevin``: the underdamped torchsde form with per-atom noise (the options from
            ``step`` on apply to it and to ``paper_compat``).
        substeps: manifold sampler: substeps (network evaluations) per snapshot interval.
        augment: manifold sampler: scale of the random rigid/torsion moves applied to the
            training inputs' ``augment_copies`` copies, in units of the fitted noise (0 = off).
        augment_copies: manifold sampler: perturbed copies of every training pair.
        augment_torsion: manifold sampler: factor on the torsion part of those perturbations
            (turning many bonds by several noise widths at once makes poses nothing can learn from).
        noise_momentum: manifold sampler: momentum of the running noise statistics.
        idealize: manifold sampler: start from the last known pose with its rigid distances set
            to their means over the known history (removes that frame's vibration).
        tether: manifold sampler: add the tether prior κ (μ − x) to the drift, μ the known
            history's mean pose, κ fitted to the training pairs (``_priors``).
        wall: manifold sampler: steric wall distance to protein backbone atoms, Å (0 = none).
        drift_cap: manifold sampler: in rollouts, soft limit of each generalized drift
            increment, in residual standard deviations of its class (0 = none).
        torsion_prior: manifold sampler: with at least 20 known snapshots, the torsions also
            follow the known history's potential of mean force (``_torsion_prior``; on by
            default, off for checkpoints written before it was, ``stored_defaults``).
        step: Euler–Maruyama step dt, snapshot intervals (0.5 = two steps per snapshot).
        friction_init: initial γ, per snapshot interval (learned, kept ≥ 0 by a softplus).
        sigma_init: initial σ, Å per snapshot interval^(3/2) (learned, state-dependent, ≥ 0).
        velocity_net: correct the finite-difference v0 with an equivariant LigandNet.
        adjoint: back-propagate with the stochastic adjoint (``torchsde.sdeint_adjoint``).
        paper_compat: the reference's ODE with force noise F + γ·ε·Σ(x) (see module docs).
        paper_gamma_init: initial γ of the paper_compat variant.
        training_score: ``energy`` (default): the energy score of two reparameterised samples,
            E|X−y| − ½E|X−X'| per atom and snapshot (Euclidean, Å) — a proper scoring rule, so the
            noise σ is fitted to the data's spread instead of collapsing to 0; ``sample``: the
            task's L1/MSE loss on one sample (the noise is then pushed towards zero).
    """

    sampler: Literal["manifold", "langevin"] = "manifold"
    substeps: int = pydantic.Field(1, ge=1)
    augment: float = pydantic.Field(1.0, ge=0)
    augment_copies: int = pydantic.Field(8, ge=1)
    augment_torsion: float = pydantic.Field(0.25, ge=0)
    noise_momentum: float = pydantic.Field(0.02, gt=0, le=1)
    idealize: bool = True
    tether: bool = True
    wall: float = pydantic.Field(2.2, ge=0)
    drift_cap: float = pydantic.Field(3.0, ge=0)
    torsion_prior: bool = True
    step: float = pydantic.Field(0.5, gt=0)
    friction_init: float = pydantic.Field(1.0, gt=0)
    sigma_init: float = pydantic.Field(0.1, gt=0)
    velocity_net: bool = True
    adjoint: bool = False
    paper_compat: bool = False
    paper_gamma_init: float = 10.0
    training_score: Literal["energy", "sample"] = "energy"

    stored_defaults: ClassVar[Mapping[str, Any]] = {"torsion_prior": False}


class NeuralMDSDE(NetMethod):
    """NeuralMD with Langevin dynamics (a real SDE)."""

    name: ClassVar[str] = "neuralmd-sde"
    Options: ClassVar[type[MethodOptions]] = NeuralMDSDEOptions
    stochastic: ClassVar[bool] = True
    #: the MD-like recipe (docs/methods.md): a small network that sees 8 Å of pocket, trained
    #: for 15 epochs at lr 1e-3 — minutes on 2 CPU cores for one trajectory
    recipe: ClassVar[Mapping[str, Any]] = {
        "network": {"hidden": 32, "num_radial": 16, "num_ligand_layers": 2,
                    "num_complex_layers": 1, "cutoff": 8.0},
        "lr": 1e-3,
        "epochs": 15,
    }  # fmt: skip

    def __init__(self, model_options: Mapping[str, Any] | None = None, options: Any = None):
        super().__init__(model_options, options)
        o = self.options
        self.build_net()
        if self.manifold:
            self.sampler = ManifoldSampler(
                o.substeps,
                o.augment,
                o.augment_copies,
                o.noise_momentum,
                o.idealize,
                o.augment_torsion,
                o.tether,
                o.wall,
                o.drift_cap,
                o.torsion_prior,
            )
            return
        self.v_init = VelocityInit(self.model_options, o.velocity_net)
        self.noise_net = ligand_net(self.model_options)
        if o.paper_compat:
            self.paper_gamma = nn.Parameter(torch.full((1, 3), float(o.paper_gamma_init)))
        else:
            self.raw_friction = nn.Parameter(torch.tensor(inv_softplus(o.friction_init)))
            self.sigma_head = nn.Linear(self.noise_net.hidden, 1)
            nn.init.zeros_(self.sigma_head.weight)
            nn.init.constant_(self.sigma_head.bias, inv_softplus(o.sigma_init))

    @property
    def manifold(self) -> bool:
        """Whether the MD-like manifold sampler is used (no velocities)."""
        return self.options.sampler == "manifold" and not self.options.paper_compat

    @property
    def uses_velocity(self) -> bool:
        """Whether an initial velocity means anything to this configuration."""
        return not self.manifold

    @property
    def calibrates(self) -> bool:
        """Whether the trainer should call :meth:`calibrate` before each validation."""
        return self.manifold

    def calibrate(self, preds, refs) -> float:
        """Fit the manifold sampler's noise scale to reference fluctuations (see
        ``ManifoldSampler.calibrate``)."""
        return self.sampler.calibrate(preds, refs)

    def friction(self) -> torch.Tensor:
        """γ ≥ 0, per snapshot interval (scalar)."""
        return F.softplus(self.raw_friction)

    def sigma(self, ctx: Context, x: torch.Tensor) -> torch.Tensor:
        """σ(x) ``(N, 1)`` ≥ 0, Å per snapshot interval^(3/2), invariant per atom."""
        s, _ = self.noise_net(x, ctx.z, ctx.lig_batch)
        return F.softplus(self.sigma_head(s))

    def _paper_accel(self, ctx: Context, seed: int):
        gen = torch.Generator(device="cpu").manual_seed(seed)

        def accel(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            eps = torch.randn((x.shape[0], 1), generator=gen, dtype=x.dtype).to(x.device)
            noise = self.paper_gamma.to(x.dtype) * eps * self.noise_net(x, ctx.z, ctx.lig_batch)[1]
            return (self.field(ctx, x) + noise) / ctx.mass

        return accel

    def predict(
        self, batch: Mapping[str, Any], history: torch.Tensor, n: int, k: int, seed: int
    ) -> torch.Tensor:
        """``k`` sampled continuations of ``history (H, N, 3)``: ``(n, k, N, 3)`` Å (differentiable)."""
        ctx1 = self.context(batch)
        x0 = history[-1]
        v0 = self.v_init(ctx1, x0, history_velocity(batch, history))
        ctx, n_atoms = ctx1.replicate(k), x0.shape[0]
        x0, v0 = x0.repeat(k, 1), v0.repeat(k, 1)
        o = self.options
        if n == 0:
            return history[:0].unsqueeze(1).expand(0, k, n_atoms, 3)
        if o.paper_compat:
            xs, _ = integrate_newton(self._paper_accel(ctx, seed), x0, v0, n, o.step, "euler")
        else:
            sde = LangevinSDE(
                lambda x: self.field(ctx, x) / ctx.mass,
                lambda: self.friction().to(x0.dtype),
                lambda x: self.sigma(ctx, x),
            )
            params = self.parameters_requiring_grad() if o.adjoint else ()
            xs, _ = integrate_langevin(sde, x0, v0, n, o.step, seed, o.adjoint, params)
        return xs.reshape(n, k, n_atoms, 3)

    def loss(self, batch: Mapping[str, Any], known: int, task: str, loss: str) -> torch.Tensor:
        """Energy score of two samples (default) or ``loss`` of one sample, against the targets.

        Noise comes from the global torch RNG (seeded by the trainer).
        """
        if self.manifold:
            return self.sampler.loss(self.field, self.context(batch), batch, known)
        pos = check_window(batch, known)
        target = pos[known:]
        energy = self.options.training_score == "energy" and not self.options.paper_compat
        pred = self.predict(
            batch, pos[:known], pos.shape[0] - known, 2 if energy else 1, seed_from(None)
        )
        if not energy:
            return position_loss(pred[:, 0], target, loss)
        err = (pred - target.unsqueeze(1)).norm(dim=-1)  # (S, 2, N) Å
        spread = (pred[:, 0] - pred[:, 1]).norm(dim=-1)  # (S, N) Å
        return err.mean() - 0.5 * spread.mean()

    def rollout(
        self,
        batch: Mapping[str, Any],
        n_snapshots: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å: K independent trajectories from one batched solve."""
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        with torch.no_grad():
            if self.manifold:
                ctx = self.context(batch)
                return self.sampler.rollout(self.field, ctx, batch, n_snapshots, samples, generator)
            pred = self.predict(batch, positions(batch), n_snapshots, samples, seed_from(generator))
        return pred.permute(1, 0, 2, 3).contiguous()
