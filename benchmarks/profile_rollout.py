"""Where a rollout's time goes per snapshot: torch.profiler over one batched rollout.

    python benchmarks/profile_rollout.py examples/t4l/complex.pdb examples/t4l/ligand.sdf \
        --batch 1 --snapshots 50 [--compile] [--model CKPT]

Regions (``record_function`` labels wrapped around library functions by this script, so the
library itself carries no profiling code): the network (BindingNet forward, its ligand module,
complex layers and output head), graph building (radius graph, residue–atom graph), the
manifold sampler's projection and exact moves, and the noise. Prints a markdown table of ms per
snapshot (inclusive CPU time under the profiler, which inflates small ops) and the number of
aten ops per snapshot. Works on older checkouts too: regions whose functions do not exist are
skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from neuralmd_core.data.prepare import system_from_pdb_sdf
from neuralmd_core.dynamics.checkpoint import load_method
from neuralmd_core.rollout import rollout_batch, run_batch_rollout
from neuralmd_core.rollout_job import default_model_path

FUNCTIONS = [  # (module, attribute, label)
    ("neuralmd_core.models._ligand", "radius_graph", "graph: ligand radius graph"),
    ("neuralmd_core.models._protein", "radius_bipartite", "graph: residue-atom graph"),
    ("neuralmd_core.models.neighbors", "radius_graph", "graph: ligand radius graph"),
    ("neuralmd_core.models.neighbors", "radius_bipartite", "graph: residue-atom graph"),
    ("neuralmd_core.dynamics._manifold", "Manifold.project", "sampler: projection"),
    ("neuralmd_core.dynamics._manifold", "Manifold.move", "sampler: exact moves"),
    ("neuralmd_core.dynamics._brownian", "q_noise", "sampler: noise"),
    ("neuralmd_core.dynamics._brownian", "vibration", "sampler: noise"),
]


def _wrap(module: str, attr: str, label: str) -> None:
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    owner, name = (
        (getattr(mod, attr.split(".")[0]), attr.split(".")[1]) if "." in attr else (mod, attr)
    )
    fn = getattr(owner, name, None)
    if fn is None:
        return

    def wrapped(*args, **kwargs):
        with record_function(label):
            return fn(*args, **kwargs)

    setattr(owner, name, wrapped)


def _hook(module: torch.nn.Module, label: str) -> None:
    stack = []
    module.register_forward_pre_hook(lambda *_: stack.append(record_function(label).__enter__()))
    module.register_forward_hook(lambda *_: stack.pop().__exit__(None, None, None))


def _instrument(method) -> None:
    for args in FUNCTIONS:
        with contextlib.suppress(ImportError, AttributeError):
            _wrap(*args)
    net = method.net
    _hook(net, "network: BindingNet (all)")
    _hook(net.ligand, "network: ligand module")
    for layer in net.complex_layers:
        _hook(layer, "network: complex layer")
    _hook(net.out, "network: output head")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("complex_pdb")
    ap.add_argument("ligand")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch", type=int, default=1, help="samples of the one complex")
    ap.add_argument("--snapshots", type=int, default=50)
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    method, _ = load_method(Path(a.model) if a.model else default_model_path(), "cpu")
    system = system_from_pdb_sdf(a.complex_pdb, a.ligand)[0]
    data = rollout_batch(method, [system], "cpu")
    kw = {"compile": True} if a.compile else {}
    run_batch_rollout(method, data, 3, samples=a.batch, **kw)  # warm-up (and compilation)
    t0 = time.perf_counter()
    run_batch_rollout(method, data, a.snapshots, samples=a.batch, **kw)
    wall = (time.perf_counter() - t0) / a.snapshots
    if not a.compile:
        _instrument(method)  # hooks inside a compiled network are not supported
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_batch_rollout(method, data, a.snapshots, samples=a.batch, **kw)
    events = prof.key_averages()
    n = a.snapshots
    ops = sum(e.count for e in events if e.key.startswith("aten::")) / n
    total = sum(e.self_cpu_time_total for e in events) / n / 1e3
    print(f"# {Path(a.ligand).parent.name or a.ligand}, {system.num_atoms} atoms, {a.batch} samples,"
          f" compile={a.compile}, rollout threads: the engine's choice")  # fmt: skip
    print(f"wall {wall * 1e3:.2f} ms/snapshot without the profiler; under it {total:.2f} ms, "
          f"{ops:.0f} aten ops/snapshot")  # fmt: skip
    print("| region | ms/snapshot (profiled) | calls/snapshot |\n|---|---|---|")
    for e in sorted(events, key=lambda e: e.key):
        if ":" in e.key and not e.key.startswith(("aten::", "Torch", "##")):
            print(f"| {e.key} | {e.cpu_time_total / n / 1e3:.3f} | {e.count / n:.1f} |")
    print("\nTop aten ops by self time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]:
        print(
            f"  {e.key:32s} {e.self_cpu_time_total / n / 1e3:7.3f} ms/snapshot  {e.count / n:6.1f} calls"
        )


if __name__ == "__main__":
    main()
