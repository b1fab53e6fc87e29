"""Every learned method: trains on a real refdata window (falling loss), rolls out without NaN,
batches several systems, survives a state_dict round trip."""

from __future__ import annotations

import pydantic
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics.registry import build_method
from tests.unit.dynamics.conftest import TINY, batch_of, train, window

LEARNED = ["neuralmd-ode", "gnn-md", "neuralmd-sde", "verlet-md", "denoising-ld"]
DETERMINISTIC = ["neuralmd-ode", "gnn-md", "verlet-md"]
#: keep the tests fast: fewer Verlet steps per snapshot; the SDE's clean-pair loss only (its
#: augmentation scale follows the noise statistics, which training changes)
FAST = {"verlet-md": {"steps_per_snapshot": 2}, "neuralmd-sde": {"augment": 0.0}}


def _fixed_seed_loss(method, batch, known, task):
    torch.manual_seed(1234)  # same noise before and after training for the stochastic methods
    with torch.enable_grad():
        return float(method.loss(batch, known, task, "mse").detach())


@pytest.mark.parametrize("name", LEARNED)
def test_trains_with_falling_loss_and_rolls_out(name, t4l_system, t4l_seed1_system):
    torch.manual_seed(0)
    method = build_method(name, TINY, FAST.get(name))
    batch = batch_of(window(t4l_system, 10, 4), window(t4l_seed1_system, 50, 4))
    before = _fixed_seed_loss(method, batch, 1, "multi")
    losses = train(method, batch, known=1, task="multi", loss="mse", steps=12)
    after = _fixed_seed_loss(method, batch, 1, "multi")
    assert all(torch.isfinite(torch.tensor(losses)))
    assert after < before, (name, before, after, losses)
    history = batch_of(window(t4l_system, 60, 20), window(t4l_seed1_system, 60, 20))
    out = method.eval().rollout(history, 5, samples=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 5, history[keys.LIG_Z].shape[0], 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_batched_rollout_equals_each_system_alone(name, t4l_system, t4l_seed1_system):
    torch.manual_seed(0)
    method = build_method(name, TINY, FAST.get(name)).double().eval()
    a, b = window(t4l_system, 30, 2), window(t4l_seed1_system, 70, 2)
    both = method.rollout(batch_of(a, b, dtype=torch.float64), 3)
    alone = [method.rollout(batch_of(s, dtype=torch.float64), 3) for s in (a, b)]
    assert torch.allclose(both, torch.cat(alone, dim=2), atol=1e-8)
    assert torch.equal(
        both[0], method.rollout(batch_of(a, b, dtype=torch.float64), 3, samples=3)[2]
    )


@pytest.mark.parametrize("name", LEARNED)
def test_state_dict_round_trip_and_unknown_option(name, t4l_system):
    torch.manual_seed(0)
    method = build_method(name, TINY).eval()
    torch.manual_seed(1)
    clone = build_method(name, TINY).eval()
    clone.load_state_dict(method.state_dict())
    batch = batch_of(window(t4l_system, 0, 2))
    gen = [torch.Generator().manual_seed(5) for _ in range(2)]
    out = [m.rollout(batch, 2, generator=g) for m, g in zip((method, clone), gen)]
    assert torch.equal(out[0], out[1])
    with pytest.raises(pydantic.ValidationError):
        build_method(name, TINY, {"no_such_option": 1})
