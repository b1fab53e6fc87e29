"""NeuralMD-SDE's MD-like sampler: BindingNet drift, Brownian dynamics on the bond manifold.

Training (teacher-forced, every consecutive pair x_t → x_{t+1} of the window, one batched call):

* the drift b = BindingNet(x) (Å per interval) is fitted to the conditional mean of the next
  snapshot by the squared error of the **projected** residual P(x_{t+1} − x̂_{t+1}) (Å²), where
  x̂_{t+1} is the noise-free substep path from x_t;
* ``copies`` copies of every pair start from inputs moved off the data by random rigid-body and
  torsion increments (``augment`` × the fitted noise, log-uniform in [1/4, 4]; the torsion part
  × ``augment_torsion``), so the drift learns to bring a ligand back from where the noise may
  take it;
* the noise variances are not learned by gradient (a point loss would drive them to 0): they are
  the running means (momentum ``noise_momentum``, bias-corrected) of the squared generalized
  residuals of the clean pairs — translation, rotation, torsion — each column divided by its
  metric weight [(JᵀJ)⁻¹] (``_brownian.metric_weights``), so each class is stored as a per-atom
  variance D (Å² per interval) that means the same jiggle on a ligand of another size or
  topology (a class never seen — a rigid ligand's torsions — takes the rotations' D); and of
  the vibration,
  var_vib = E[(d_{t+1} − d_t)²] / 4 over rigid distances d (vibrations decorrelate within an
  interval, and isotropic per-atom noise of variance v changes a distance by variance 2v);
* the tether's restoring fraction κ (``_priors``) is the running least-squares fit of the clean
  pairs' steps on their offsets from the anchor, and the network is fitted to what the tether
  leaves; the steric wall acts only in rollouts.

They are buffers, so checkpoints carry them. Private to ``neuralmd_core.dynamics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralmd_core import keys
from neuralmd_core.dynamics import _brownian as BD
from neuralmd_core.dynamics._calibration import mean_observables
from neuralmd_core.dynamics._common import check_window, positions
from neuralmd_core.dynamics._manifold import (
    Manifold,
    graphs_of,
    idealize,
    rigid_distance_sq_change,
    rigid_distances,
)
from neuralmd_core.dynamics._priors import WALL_A, Pocket, anchor_of
from neuralmd_core.dynamics._torsion_prior import TorsionFlow, TorsionPrior

#: initial noise variances (translation, rotation, torsion: per-atom Å² per interval; vib Å²)
INITIAL_VAR = (0.4, 0.4, 0.4, 0.0004)

#: bounds of the calibrated noise and drift scales
SCALE_MIN, SCALE_MAX = 0.01, 10.0
DRIFT_MIN, DRIFT_MAX = 0.5, 2.0

Field = Callable[[Any, torch.Tensor], torch.Tensor]  # (context, flat positions) → (N, 3)


class ManifoldSampler(nn.Module):
    """The drift-fitting loss, the noise statistics and the sampler (see module docs).

    Args:
        substeps: substeps per snapshot interval.
        augment: scale of the training-input perturbations (0 = none).
        copies: perturbed copies of each training pair.
        augment_torsion: factor on the torsion part of the perturbations.
        noise_momentum: momentum of the running noise statistics.
        idealize_start: set the starting pose's rigid distances to their history means.
        tether: add the tether prior to the drift (``_priors``).
        wall: steric wall distance, Å (0 = none).
        drift_cap: in rollouts, each generalized drift increment is softly limited to this many
            residual standard deviations of its class (``_brownian.soft_cap``; 0 = none).
        torsion_prior: the torsions also follow the known history's potential of mean force
            (``_torsion_prior``).
    """

    def __init__(
        self, substeps: int, augment: float, copies: int, noise_momentum: float,
        idealize_start: bool, augment_torsion: float = 0.25, tether: bool = True,
        wall: float = WALL_A, drift_cap: float = 3.0, torsion_prior: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.substeps, self.augment, self.copies = substeps, augment, copies
        self.augment_torsion = augment_torsion
        self.momentum, self.idealize_start = noise_momentum, idealize_start
        self.tether, self.wall, self.drift_cap = tether, wall, drift_cap
        self.torsion_prior = torsion_prior
        self.torsions_seen = False  # set by the first training batch with a rotatable bond
        self.register_buffer("noise_var", torch.tensor(INITIAL_VAR, dtype=torch.float64))
        self.register_buffer("noise_updates", torch.zeros((), dtype=torch.float64))
        #: calibrated factors on the rigid-body and the torsion noise
        self.register_buffer("noise_scale", torch.ones(2, dtype=torch.float64))
        self.register_buffer("drift_scale", torch.ones((), dtype=torch.float64))
        #: running means of ⟨x_{t+1} − x_t, μ − x_t⟩ and |μ − x_t|² per atom (Å²)
        self.register_buffer("tether_stats", torch.zeros(2, dtype=torch.float64))
        #: 1: noise statistics in per-atom length units (``_brownian.metric_weights``); 0: in
        #: generalized units (checkpoints from before)
        self.register_buffer("noise_units", torch.ones((), dtype=torch.float64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before the tether: no tether (κ = 0), as they were trained
        state_dict.setdefault(prefix + "tether_stats", torch.zeros(2, dtype=torch.float64))
        # and from before length units: generalized units
        state_dict.setdefault(prefix + "noise_units", torch.zeros((), dtype=torch.float64))
        # and from before the torsion noise had its own scale: one scale for both
        scale = state_dict.get(prefix + "noise_scale")
        if scale is not None and scale.dim() == 0:
            state_dict[prefix + "noise_scale"] = scale.expand(2).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def length_units(self) -> bool:
        """Whether the noise statistics are per-atom Å² (``noise_units``; False for checkpoints
        from before, whose statistics are per generalized column)."""
        return bool(self.noise_units > 0)

    def weights(
        self, man: Manifold, xp: torch.Tensor, inv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-column noise factors ``(S, Q)`` at ``xp`` (``_brownian.metric_weights``; ``inv``
        the inverse of JᵀJ when known)."""
        return BD.metric_weights(man, xp, absolute=self.length_units, inv=inv)

    @property
    def tether_rate(self) -> float:
        """κ ∈ [0, 1], the tether's restoring fraction per interval (0 when off or unfitted)."""
        num, den = (float(v) for v in self.tether_stats)
        return min(max(num / den, 0.0), 1.0) if self.tether and den > 0 else 0.0

    def _with_tether(self, field: Field, anchor: torch.Tensor) -> Field:
        """``field`` plus κ (anchor − x); ``anchor`` in the flat layout the field sees."""
        kappa = self.tether_rate
        if kappa == 0.0:
            return field
        return lambda ctx, x: field(ctx, x) + kappa * (anchor.to(x) - x)

    def var(self, dtype: torch.dtype) -> torch.Tensor:
        """The ``(4,)`` noise variances (``_brownian.VAR_*``) in ``dtype``: the residual
        statistics, the rigid-body ones times ``noise_scale[0]``, the torsions' times
        ``noise_scale[1]``."""
        s = self.noise_scale
        scale = torch.cat([s[:1], s[:1], s[1:], s.new_ones(1)])
        return (self.noise_var * scale).to(dtype)

    @torch.no_grad()
    def calibrate(self, preds, refs) -> tuple[float, float]:
        """Fit the sampler's time scale and noise to reference fluctuations and kinetics.

        Observables (``_calibration``, over rollouts and references): MSF, the mean squared
        fluctuation of each atom about its mean (Å²); its internal part MSF_int (after removing
        each frame's rigid-body motion: torsions and vibrations) and rigid part MSF − MSF_int;
        r = MSD(lag 1) / (2 MSF), the decorrelation per snapshot. For a linear
        (Ornstein–Uhlenbeck) chain with per-step restoring fraction r, r = 1 − ρ₁ is
        proportional to the drift scale and MSF ∝ noise / (r (2 − r)). Per call:

        * ``drift_scale`` (the inverse friction: how fast the ligand relaxes) × r_ref / r_pred,
          within [0.8, 1.25], while MSF is within a factor 2 of the reference's; × 1/2 when
          r_pred ≥ 1.5 (consecutive steps overshoot: the drift is too strong); kept in
          [DRIFT_MIN, DRIFT_MAX];
        * ``noise_scale[0]`` (rigid-body noise) × (rigid MSF_ref / rigid MSF_pred) · g and, once
          the training data had torsions, ``noise_scale[1]`` (torsion noise) × (med MSF_int,ref /
          med MSF_int,pred) · g (the median over atoms: on 11GS the mean, set by a few flipping
          terminal groups, drove the torsion noise to 2.4× and the torsion JSD to 0.173 against a
          floor of 0.122), with g = r₁(2 − r₁) / (r₀(2 − r₀)) and r₀, r₁ the decorrelation
          before and after the drift update; each factor within [1/2, 2], each scale in
          [SCALE_MIN, SCALE_MAX].

        Called by the trainer before each validation.

        Args:
            preds: per trajectory, ``(K, S, N, 3)`` Å rollouts of the current model.
            refs: per trajectory, ``(T, N, 3)`` Å reference frames (never test frames).

        Returns:
            The drift factor and the rigid-body noise factor applied.
        """
        pred, ref = mean_observables(preds), mean_observables(refs)
        if not (np.all(np.isfinite(pred)) and pred[0] > 0 and pred[1] > 0):
            return 1.0, 0.5
        r_ref, r0 = ref[1] / (2 * ref[0]), pred[1] / (2 * pred[0])
        drift = 1.0
        if r0 >= 1.5:
            drift = 0.5
        elif 0.5 < ref[0] / pred[0] < 2.0:  # a far-off ensemble says nothing about the time scale
            drift = float(np.clip(r_ref / r0, 0.8, 1.25))
        old = float(self.drift_scale)
        new = float(np.clip(old * drift, DRIFT_MIN, DRIFT_MAX))
        r1 = min(r0 * new / old, 1.99)
        gain = r1 * (2 - r1) / (r0 * (2 - r0)) if r0 < 2 else 1.0
        rigid_ref, rigid_pred = max(ref[0] - ref[2], 1e-12), max(pred[0] - pred[2], 1e-12)
        factors = [float(np.clip(rigid_ref / rigid_pred * gain, 0.5, 2.0))] * 2
        if self.torsions_seen and pred[3] > 0:
            factors[1] = float(np.clip(ref[3] / pred[3] * gain, 0.5, 2.0))
        elif not self.torsions_seen and not self.length_units:
            factors[1] = 1.0
        self.drift_scale.fill_(new)
        scale = self.noise_scale * torch.tensor(factors, dtype=torch.float64)
        self.noise_scale.copy_(scale.clamp(SCALE_MIN, SCALE_MAX))
        return new / old, factors[0]

    def _path(self, field: Field, ctx, man: Manifold, xp: torch.Tensor) -> torch.Tensor:
        h = 1.0 / self.substeps
        for _ in range(self.substeps):
            xp = man.move(
                xp, BD.drift_step(man, xp, lambda p: man.pad(field(ctx, man.unpad(p))), h)
            )
        return xp

    def _augment(self, man: Manifold, xp: torch.Tensor) -> torch.Tensor:
        s_n = xp.shape[0]
        scale = self.augment * torch.exp(math.log(4.0) * (2 * torch.rand(s_n, 1) - 1))
        noise = BD.Noise(None, xp.device, xp.dtype)
        var = self.noise_var.to(xp.dtype)
        if self.length_units:
            q = (
                man.project(xp, BD.projected_noise(man, var, 1.0, noise))
                * BD.columns(man, var).sqrt()
            )
        else:
            q = BD.q_noise(man, var, 1.0, noise)
        q = q * scale.to(xp)
        q = torch.cat([q[:, :6], self.augment_torsion * q[:, 6:]], dim=1)
        return man.move(xp, q)

    def loss(self, field: Field, ctx, batch: Mapping[str, Any], known: int) -> torch.Tensor:
        """Mean squared projected residual (Å²) over the window's pairs and their augmented
        copies, all in one batched network call."""
        pos = check_window(batch, known)
        cur, nxt = pos[known - 1 : -1], pos[known:]
        p, n = cur.shape[0], cur.shape[1]
        copies = 1 + (self.copies if self.augment > 0 else 0)
        man1 = Manifold.from_batch(batch).replicate(p)
        x0, x1 = man1.pad(cur.reshape(p * n, 3)), man1.pad(nxt.reshape(p * n, 3))
        man = man1.replicate(copies)
        starts = [x0] + [self._augment(man1, x0) for _ in range(copies - 1)]
        xs = torch.cat(starts)
        anchor = anchor_of(batch, pos)
        full = self._with_tether(field, anchor.repeat(p * copies, 1))
        resid = x1.repeat(copies, 1, 1) - self._path(full, ctx.replicate(p * copies), man, xs)
        proj = (man.basis(xs).flatten(1, 2) @ man.project(xs, resid).unsqueeze(-1)).squeeze(-1)
        if self.training:
            self._update(man1, x0, resid[: x0.shape[0]].detach(), batch, cur, nxt)
            self._update_tether(anchor, cur, nxt)
        return proj.pow(2).sum() / (3 * man.mask.sum())

    @torch.no_grad()
    def _update(self, man, x0, resid, batch, cur, nxt) -> None:
        weights = self.weights(man, x0) if self.length_units else None
        moments = BD.residual_moments(man, x0, resid, weights).double()
        vib = rigid_distance_sq_change(cur, nxt, graphs_of(batch))
        obs = torch.cat([moments, vib.double().reshape(1) / 4])
        beta = max(self.momentum, 1.0 / float(self.noise_updates + 1))
        known = torch.isfinite(obs)
        self.torsions_seen = self.torsions_seen or bool(known[2])
        self.noise_var[known] = (1 - beta) * self.noise_var[known] + beta * obs[known]
        if not self.torsions_seen and self.length_units:
            # no torsion seen yet: the per-atom jiggle of the rotations (isotropic per-atom noise)
            self.noise_var[BD.VAR_TORS] = self.noise_var[BD.VAR_ROT]
        self.noise_updates += 1

    @torch.no_grad()
    def _update_tether(self, anchor: torch.Tensor, cur: torch.Tensor, nxt: torch.Tensor) -> None:
        off = anchor - cur  # (P, N, 3)
        obs = torch.stack([((nxt - cur) * off).sum(-1).mean(), (off**2).sum(-1).mean()])
        beta = max(self.momentum, 1.0 / float(self.noise_updates))  # after _update's increment
        self.tether_stats.mul_(1 - beta).add_(beta * obs.double())

    def start(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Starting state ``(N_tot, 3)`` Å: the last known pose with its vibration removed —
        rigid distances set to their means over the known history, or, with a single known
        pose, to those of the batch's ideal geometry (``keys.LIG_IDEAL``) when it has one."""
        hist = positions(batch)
        ideal = batch.get(keys.LIG_IDEAL)
        if not self.idealize_start or (hist.shape[0] < 2 and ideal is None):
            return hist[-1]
        h = hist.detach().cpu().double().numpy()
        ref = h if hist.shape[0] >= 2 else ideal.detach().cpu().double().numpy()[None]
        parts = [
            idealize(h[-1, s : s + g.n], rigid_distances(ref[:, s : s + g.n], g).mean(0), g)
            for s, g in graphs_of(batch)
        ]
        return torch.as_tensor(np.concatenate(parts), dtype=hist.dtype, device=hist.device)

    def _torsion_flow(
        self, batch: Mapping[str, Any], man: Manifold, inv: torch.Tensor, var: torch.Tensor
    ) -> TorsionFlow | None:
        """The torsion prior's flow (``_torsion_prior``) for the K replicated systems of ``man``,
        ``inv (K·S, Q, Q)`` the inverse of JᵀJ at their start; None when off or without a long
        enough history."""
        if not self.torsion_prior:
            return None
        man1 = Manifold.from_batch(batch)
        hist = torch.stack([man1.pad(h) for h in positions(batch)])
        graphs = [g for _, g in graphs_of(batch)]
        prior = TorsionPrior.from_history(graphs, hist, man1.num_q - 6)
        if prior is None:
            return None
        prior = prior.replicate(inv.shape[0] // hist.shape[1])
        both = (prior.live.unsqueeze(-1) & prior.live.unsqueeze(-2)).double()
        return TorsionFlow(prior, float(var[BD.VAR_TORS]) * inv[:, 6:, 6:].double() * both)

    def rollout(
        self, field: Field, ctx, batch: Mapping[str, Any], n: int, k: int, gen
    ) -> torch.Tensor:
        """``(K, S, N_tot, 3)`` Å: K independent trajectories of S = ``n`` snapshots."""
        x0 = self.start(batch)
        man = Manifold.from_batch(batch).replicate(k)
        ctx = ctx.replicate(k)
        xp = man.pad(x0.repeat(k, 1))
        noise = BD.Noise(gen, x0.device, x0.dtype)
        scale = float(self.drift_scale)
        full = self._with_tether(field, anchor_of(batch, positions(batch)).repeat(k, 1))
        pocket = Pocket.from_batch(batch).replicate(k)
        wall = None if self.wall <= 0 else (lambda p, old: pocket.resolve(man, p, self.wall, old))
        inv = torch.linalg.inv(man.normal(xp)[1])  # W = (JᵀJ)⁻¹ at the start
        length, weights, cap = self.length_units, self.weights(man, xp, inv), None
        if self.drift_cap > 0:
            resid = BD.columns(man, self.noise_var.to(xp.dtype))
            resid = resid * weights if length else resid
            cap = self.drift_cap / self.substeps * resid.sqrt()
        var = self.var(x0.dtype)
        fine = BD.fine_moves(man, var, weights, 1.0 / self.substeps) if length else 1
        flow = self._torsion_flow(batch, man, inv, var) if length else None
        out = BD.sample(
            man, xp, lambda p: scale * man.pad(full(ctx, man.unpad(p))), var, n, self.substeps,
            noise, wall, cap, None if length else weights, projected=length,
            fine=fine, torsion_flow=flow,
        )  # fmt: skip
        flat = (
            torch.stack([man.unpad(o) for o in out]) if n else x0.new_zeros((0, k * x0.shape[0], 3))
        )
        return flat.reshape(n, k, -1, 3).permute(1, 0, 2, 3).contiguous()
