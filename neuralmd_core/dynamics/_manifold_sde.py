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
  residuals of the clean pairs — translation, rotation, torsion — and of the vibration,
  var_vib = E[(d_{t+1} − d_t)²] / 4 over rigid distances d (vibrations decorrelate within an
  interval, and isotropic per-atom noise of variance v changes a distance by variance 2v).

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
from neuralmd_core.dynamics._common import check_window, positions
from neuralmd_core.dynamics._manifold import (
    Manifold,
    graphs_of,
    idealize,
    rigid_distance_sq_change,
    rigid_distances,
)

#: initial noise variances (translation Å², rotation rad², torsion rad² per interval; vib Å²)
INITIAL_VAR = (0.05, 0.01, 0.1, 0.0004)

#: bounds of the calibrated noise and drift scales
SCALE_MIN, SCALE_MAX = 0.1, 10.0
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
    """

    def __init__(
        self, substeps: int, augment: float, copies: int, noise_momentum: float,
        idealize_start: bool, augment_torsion: float = 0.25,
    ):  # fmt: skip
        super().__init__()
        self.substeps, self.augment, self.copies = substeps, augment, copies
        self.augment_torsion = augment_torsion
        self.momentum, self.idealize_start = noise_momentum, idealize_start
        self.register_buffer("noise_var", torch.tensor(INITIAL_VAR, dtype=torch.float64))
        self.register_buffer("noise_updates", torch.zeros((), dtype=torch.float64))
        self.register_buffer("noise_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("drift_scale", torch.ones((), dtype=torch.float64))

    def var(self, dtype: torch.dtype) -> torch.Tensor:
        """The ``(4,)`` noise variances (``_brownian.VAR_*``) in ``dtype``: the residual
        statistics, the slow (rigid-body, torsion) ones times the calibrated ``noise_scale``."""
        scale = torch.cat([self.noise_scale.expand(3), self.noise_scale.new_ones(1)])
        return (self.noise_var * scale).to(dtype)

    @torch.no_grad()
    def calibrate(self, preds, refs) -> tuple[float, float]:
        """Fit the sampler's time scale and noise to reference fluctuations and kinetics.

        Observables (over rollouts and references): MSF, the mean squared fluctuation of each
        atom about its mean (Å²), and r = MSD(lag 1) / (2 MSF), the decorrelation per snapshot.
        For a linear (Ornstein–Uhlenbeck) chain with per-step restoring fraction r,
        r = 1 − ρ₁ is proportional to the drift scale and MSF ∝ noise / (r (2 − r)). Per call:

        * ``drift_scale`` (the inverse friction: how fast the ligand relaxes) × r_ref / r_pred,
          within [0.8, 1.25], while MSF is within a factor 2 of the reference's; × 1/2 when
          r_pred ≥ 1.5 (consecutive steps overshoot: the drift is too strong); kept in
          [DRIFT_MIN, DRIFT_MAX];
        * ``noise_scale`` (the slow noise) × (MSF_ref / MSF_pred) · r₁(2 − r₁) / (r₀(2 − r₀))
          with r₀, r₁ the decorrelation before and after the drift update, within [1/2, 2],
          kept in [SCALE_MIN, SCALE_MAX].

        Called by the trainer before each validation.

        Args:
            preds: per trajectory, ``(K, S, N, 3)`` Å rollouts of the current model.
            refs: per trajectory, ``(T, N, 3)`` Å reference frames (never test frames).

        Returns:
            The two factors applied (drift, noise).
        """

        def stats(x: np.ndarray) -> np.ndarray:
            fluct = ((x - x.mean(-3, keepdims=True)) ** 2).sum(-1).mean()
            step = ((x[..., 1:, :, :] - x[..., :-1, :, :]) ** 2).sum(-1).mean()
            return np.array([fluct, step])

        pred = np.mean([np.mean([stats(k) for k in p], 0) for p in preds], 0)
        ref = np.mean([stats(r) for r in refs], 0)
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
        noise = float(np.clip(ref[0] / pred[0] * gain, 0.5, 2.0))
        self.drift_scale.fill_(new)
        self.noise_scale.copy_((self.noise_scale * noise).clamp(SCALE_MIN, SCALE_MAX))
        return new / old, noise

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
        q = BD.q_noise(man, self.noise_var.to(xp.dtype), 1.0, noise) * scale.to(xp)
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
        resid = x1.repeat(copies, 1, 1) - self._path(field, ctx.replicate(p * copies), man, xs)
        proj = (man.basis(xs).flatten(1, 2) @ man.project(xs, resid).unsqueeze(-1)).squeeze(-1)
        if self.training:
            self._update(man1, x0, resid[: x0.shape[0]].detach(), batch, cur, nxt)
        return proj.pow(2).sum() / (3 * man.mask.sum())

    @torch.no_grad()
    def _update(self, man, x0, resid, batch, cur, nxt) -> None:
        moments = BD.residual_moments(man, x0, resid).double()
        vib = rigid_distance_sq_change(cur, nxt, graphs_of(batch))
        obs = torch.cat([moments, vib.double().reshape(1) / 4])
        beta = max(self.momentum, 1.0 / float(self.noise_updates + 1))
        known = torch.isfinite(obs)
        self.noise_var[known] = (1 - beta) * self.noise_var[known] + beta * obs[known]
        self.noise_updates += 1

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
        out = BD.sample(
            man, xp, lambda p: scale * man.pad(field(ctx, man.unpad(p))), self.var(x0.dtype), n,
            self.substeps, noise,
        )  # fmt: skip
        flat = (
            torch.stack([man.unpad(o) for o in out]) if n else x0.new_zeros((0, k * x0.shape[0], 3))
        )
        return flat.reshape(n, k, -1, 3).permute(1, 0, 2, 3).contiguous()
