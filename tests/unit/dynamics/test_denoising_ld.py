"""DenoisingLD: the trained score beats a zero score; the sampler's substeps and seeding."""

from __future__ import annotations

import torch

from neuralmd_core import keys
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, train, window


def _paired_losses(method, batch, draws=8):
    ours, zero = 0.0, 0.0
    with torch.no_grad():
        for d in range(draws):
            torch.manual_seed(100 + d)
            ours += float(method.dsm_loss(batch, 1))
            torch.manual_seed(100 + d)  # the same σ and ε draws
            zero += float(method.dsm_loss(batch, 1, zero_score=True))
    return ours / draws, zero / draws


def test_denoiser_beats_zero_score(t4l_system):
    torch.manual_seed(0)
    method = build_method("denoising-ld", TINY)
    batch = batch_of(window(t4l_system, 0, 41))  # 40 consecutive pairs of real MD
    untrained, zero = _paired_losses(method, batch)
    train(method, batch, known=1, task="multi", loss="mse", steps=200, lr=3e-3)
    trained, zero_again = _paired_losses(method, batch)
    assert zero == zero_again and abs(zero - 1.0) < 0.1  # E|ε|² = 1
    assert trained < 0.9 * zero, (untrained, trained, zero)
    assert trained < untrained


def test_sampler_substeps_schedule_and_seed(t4l_system):
    torch.manual_seed(0)
    method = build_method(
        "denoising-ld", TINY, {"substeps": 7, "sigma_min": 0.02, "sigma_max": 2.0}
    )
    levels = method.schedule(torch.zeros(1, dtype=torch.float64))
    assert torch.allclose(levels, 2.0 * (0.01 ** torch.linspace(0, 1, 7, dtype=torch.float64)))
    calls = []
    method.net.register_forward_hook(lambda *_: calls.append(1))
    batch = batch_of(window(t4l_system, 50, 2))
    a = method.rollout(batch, 2, samples=3, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 2 * (7 + 1)  # 7 Langevin substeps + the final denoising step, per snapshot
    b = method.rollout(batch, 2, samples=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert (a[0] - a[1]).abs().max() > 1e-3
    assert a.shape == (3, 2, batch[keys.LIG_Z].shape[0], 3)
