"""torch.compile in rollouts: the compiled network gives the eager trajectories; a failure falls
back to eager with one warning; ``compile="auto"`` only for long rollouts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from neuralmd_core.data.prepare import system_from_pdb_sdf
from neuralmd_core.dynamics.registry import build_method
from neuralmd_core.rollout import (
    AUTO_COMPILE_FRAMES,
    rollout_batch,
    run_batch_rollout,
    should_compile,
)

TINY = {"hidden": 8, "num_radial": 4, "num_ligand_layers": 1}


@pytest.fixture(scope="module")
def setup(refdata_dir: Path):
    d = refdata_dir / "t4l" / "seed0"
    system = system_from_pdb_sdf(d / "topology.pdb", d / "ligand.sdf")[0]
    torch.manual_seed(0)
    method = build_method("neuralmd-sde", TINY, {})
    return method, rollout_batch(method, [system], "cpu")


def test_compiled_rollout_equals_eager(setup):
    """Same seed, same sampler: the compiled network changes only float rounding."""
    method, batch = setup
    eager = run_batch_rollout(method, batch, 4, samples=2, seed=3)
    compiled = run_batch_rollout(method, batch, 4, samples=2, seed=3, compile=True)
    assert method.__dict__.get("_compiled_forward") is not None  # the compiled path ran
    assert "compile_network" not in method.__dict__  # the switch is off again
    assert compiled.shape == eager.shape == (2, 4, 8, 3)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-4)
    assert not torch.equal(eager[0], eager[1])  # two samples, two trajectories


def test_failed_compilation_falls_back_to_eager(setup, monkeypatch, caplog):
    method, batch = setup
    eager = run_batch_rollout(method, batch, 3, seed=1)

    def broken(fn, **_):
        def call(*_a, **_k):
            raise RuntimeError("no C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    object.__setattr__(method, "_compiled_forward", None)
    with caplog.at_level(logging.WARNING):
        again = run_batch_rollout(method, batch, 3, seed=1, compile=True)
    assert torch.equal(again, eager)  # the eager network, exactly
    warnings = [r.getMessage() for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert warnings == ["torch.compile failed (no C++ compiler found); running the network eagerly"]


def test_auto_compiles_only_long_rollouts():
    assert not should_compile(1, 100) and not should_compile(32, 1000)
    assert should_compile(1, AUTO_COMPILE_FRAMES) and should_compile(32, 10_000)
