"""static / mean-pose: hand-computed outputs, no parameters, state_dict round trip."""

from __future__ import annotations

import pydantic
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.dynamics.registry import build_method


def _batch(pos: torch.Tensor) -> dict:
    n = pos.shape[1]
    return {
        keys.LIG_POS: pos,
        keys.LIG_Z: torch.full((n,), 6),
        keys.LIG_BATCH: torch.zeros(n, dtype=torch.long),
        keys.NUM_SYSTEMS: 1,
    }


HISTORY = torch.tensor(
    [
        [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]],
        [[2.0, 0.0, -2.0], [1.0, 4.0, 3.0]],
        [[4.0, 3.0, 2.0], [4.0, 0.0, 0.0]],
    ]
)


def test_static_repeats_last_pose():
    out = build_method("static").rollout(_batch(HISTORY), n_snapshots=4, samples=2)
    assert out.shape == (2, 4, 2, 3)
    expected = torch.tensor([[4.0, 3.0, 2.0], [4.0, 0.0, 0.0]])
    assert torch.equal(out, expected.expand(2, 4, 2, 3))


def test_mean_pose_repeats_history_mean():
    out = build_method("mean-pose").rollout(_batch(HISTORY), n_snapshots=3)
    expected = torch.tensor([[2.0, 1.0, 0.0], [2.0, 2.0, 2.0]])
    assert out.shape == (1, 3, 2, 3)
    assert torch.allclose(out, expected.expand(1, 3, 2, 3))


@pytest.mark.parametrize("name", ["static", "mean-pose"])
def test_reference_untrainable_and_roundtrip(name):
    method = build_method(name)
    assert not method.trainable and not method.stochastic
    assert list(method.parameters()) == []
    loss = method.loss(_batch(HISTORY), known=2, task="single", loss="l1")
    assert float(loss) == 0.0 and not loss.requires_grad
    clone = build_method(name)
    clone.load_state_dict(method.state_dict())
    assert torch.equal(clone.rollout(_batch(HISTORY), 2), method.rollout(_batch(HISTORY), 2))
    with pytest.raises(ValueError):
        method.loss(_batch(HISTORY), known=3, task="single", loss="l1")
    with pytest.raises(pydantic.ValidationError):
        build_method(name, options={"bogus": 1})
