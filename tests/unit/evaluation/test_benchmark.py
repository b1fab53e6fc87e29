"""The benchmark's instrumentation: counted networks, hooks, peak memory, record fields."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from neuralmd_core import rollout as engine
from neuralmd_core.evaluation import benchmark as bench
from neuralmd_core.evaluation._instrument import (
    MIB,
    eval_hooks,
    peak_memory,
    rollout_kwargs,
    top_level_nets,
)
from neuralmd_core.evaluation.ensemble_time import MDReference, convergence_snapshots

TINY_NET = {"hidden": 16, "num_radial": 8, "num_ligand_layers": 1}


@pytest.fixture(scope="module")
def ode():
    from neuralmd_core.dynamics.registry import build_method

    torch.manual_seed(0)
    return build_method("neuralmd-ode", TINY_NET, {})


@pytest.fixture(scope="module")
def system(t4l_seed0):
    from neuralmd_core.data.prepare import system_from_pdb_sdf

    return system_from_pdb_sdf(t4l_seed0 / "topology.pdb", t4l_seed0 / "ligand.sdf")[0]


def test_top_level_nets_leave_out_nested_ones(ode):
    # the BindingNet (its LigandNet inside is not counted) and the initial velocity's LigandNet
    assert top_level_nets(ode) == [ode.net, ode.v_init.net]


def test_eval_hooks_count_outermost_calls_only():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def forward(self, x):
            return self.inner(self.inner(x))

    outer, other = Outer(), nn.Linear(2, 2)
    with eval_hooks([outer, outer.inner, other], torch.device("cpu")) as stats:
        outer(torch.ones(1, 2))
        other(torch.ones(1, 2))
        outer.inner(torch.ones(1, 2))
    assert stats.calls == 3 and stats.seconds > 0 and stats.threads == torch.get_num_threads()
    outer(torch.ones(1, 2))  # hooks removed
    assert stats.calls == 3


def test_peak_memory_sees_a_short_lived_allocation(monkeypatch):
    """The sampling thread catches a 30-ms peak of the resident size (a fake /proc reading:
    whether a real allocation raises RSS depends on what the allocator kept from earlier)."""
    import neuralmd_core.evaluation._instrument as instrument

    base, high = 500 * MIB, [False]
    monkeypatch.setattr(instrument, "_rss_bytes", lambda: base + (64 * MIB if high[0] else 0))
    with peak_memory(torch.device("cpu")) as mem:
        time.sleep(0.01)
        high[0] = True
        time.sleep(0.03)
        high[0] = False
        time.sleep(0.01)
    assert mem == {"peak_mem_MiB": 564.0, "mem_kind": "rss"}
    with peak_memory(torch.device("cpu")) as mem:  # no peak: the steady value
        time.sleep(0.01)
    assert mem["peak_mem_MiB"] == 500.0


def test_rollout_kwargs_batch_is_samples_of_one_complex():
    assert rollout_kwargs() == {"samples": 1, "compile": False}
    assert rollout_kwargs(True, 3, samples=32) == {"samples": 32, "compile": True, "threads": 3}


def test_time_model_record(ode, system):
    rec = bench.time_model(ode, system, 3, 2, 2, torch.device("cpu"), 2.0)
    assert rec["compiled"] is False and rec["compile_s"] == 0.0
    assert rec["ns_per_day"] == pytest.approx(86400 / rec["model_s_per_ps"] / 1000)
    assert rec["model_s_per_ps"] == pytest.approx(rec["wall_s"] / (2 * 3 * 2.0))
    assert rec["evals_per_snapshot"] == 2  # the ODE's solver: two BindingNet calls per snapshot
    assert rec["eval_ms"] > 0 and 0 < rec["eval_share"] <= 1
    assert rec["threads"] == 1  # a small CPU rollout runs on one thread
    assert rec["peak_mem_MiB"] > 0 and rec["mem_kind"] == "rss"


def test_compile_and_threads_are_passed_through(ode, system, monkeypatch):
    real, seen = engine.run_batch_rollout, []

    def fake(method, batch, n_snapshots, *args, compile=False, threads=None, **kw):
        seen.append((compile, threads))
        if len(seen) == 1:
            time.sleep(0.2)  # the first, "compiling" call
        return real(method, batch, n_snapshots, *args, threads=threads, **kw)

    monkeypatch.setattr(engine, "run_batch_rollout", fake)
    rec = bench.time_model(ode, system, 2, 1, 1, torch.device("cpu"), 1.0, compile=True, threads=1)
    assert rec["compiled"] is True and rec["compile_s"] >= 0.15
    assert rec["threads"] == 1
    assert seen[:2] == [(True, 1), (True, 1)]  # warm-up and timed call
    assert (False, None) in seen  # the evaluation count runs eagerly, automatic threads


def test_model_ensemble_pools_the_batch(monkeypatch):
    b, s, n = 2, 12, 3
    pos = np.zeros((b, s, n, 3))
    pos[0, 6:, :, 0] = np.resize([1.0, -1.0], 6)[:, None]  # trajectory 0 moves late
    pos[1, :, :, 1] = np.resize([1.0, -1.0], s)[:, None]  # trajectory 1 from the start
    pos[1, -2:] = np.inf  # diverged: only the finite prefix counts
    seen = []

    def fake(*_a, samples=1, **_k):  # (K, S, N, 3): the K = B samples of the complex
        seen.append(samples)
        return torch.from_numpy(pos)

    monkeypatch.setattr(bench, "rollout_batch", lambda *a, **k: {})
    monkeypatch.setattr(engine, "run_batch_rollout", fake)
    out = bench.model_ensemble(None, SimpleNamespace(num_atoms=n), b, torch.device("cpu"), s)
    assert seen == [b]
    assert out == {
        "ensemble_length": s - 2,
        "ensemble_snapshots": convergence_snapshots(pos[:, : s - 2]),
    }


def test_ensemble_fields_and_speedup():
    ref = MDReference(pos=np.zeros((3, 50, 1, 3)), interval_ps=2.0, snapshots=20)
    md_ens = bench._md_ensemble(ref, {"md_s_per_ps": 0.5})
    assert md_ens["md_ensemble_wall_s"] == pytest.approx(3 * 20 * 2.0 * 0.5)
    assert (md_ens["md_ensemble_replicas"], md_ens["md_ensemble_length"]) == (3, 50)
    rec = {"wall_s": 2.0, "snapshots": 10}
    ens = {"ensemble_length": 100, "ensemble_snapshots": 30}
    rec = bench._with_ensemble(rec, ens, md_ens)
    assert rec["ensemble_wall_s"] == pytest.approx(30 * 2.0 / 10)
    assert rec["ensemble_speedup"] == pytest.approx(60.0 / 6.0)
    no_md = bench._with_ensemble(
        {"wall_s": 1.0, "snapshots": 1}, ens, bench._md_ensemble(ref, None)
    )
    assert "md_ensemble_wall_s" not in no_md and "ensemble_speedup" not in no_md
