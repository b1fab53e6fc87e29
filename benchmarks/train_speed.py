"""Training speed and peak memory of `neuralmd train`'s inner step (not a test).

Measures optimiser steps per second (loss + backward + Adam step) and peak memory for:

* ``single``: windows of 3 frames (known 2 + 1 predicted), batch 1 — the paper's protocol;
* ``multi``: frames 0..H from snapshot 0 (known 1), horizon H = 99 by default, batch of every
  trajectory, with and without ``--adjoint`` (methods that have the option).

Each case runs in a fresh subprocess so peak RSS (CPU) or ``torch.cuda.max_memory_allocated``
(GPU) belongs to that case alone. Data: T4L seeds 0-3 from ``../shared/refdata`` through the real
prepare path (or ``--dataset``). Output: one JSON document on stdout; progress on stderr.

    python benchmarks/train_speed.py --device cpu --steps 3 --multi-steps 1
    python benchmarks/train_speed.py --device cuda --steps 50 --multi-steps 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFDATA = Path(os.environ.get("NEURALMD_SHARED", REPO.parent / "shared")) / "refdata"


def make_dataset(path: Path) -> None:
    """T4L seeds 0-3, 100 snapshots each, through prepare_from_md → write_systems."""
    from neuralmd_core.data.prepare import prepare_from_md
    from neuralmd_core.data.store import write_systems

    systems = []
    for k in range(4):
        d = REFDATA / "t4l" / f"seed{k}"
        for s in prepare_from_md(d / "topology.pdb", [d / "traj.xtc"], ligand=d / "ligand.sdf"):
            s.name = f"t4l_seed{k}"
            systems.append(s)
    write_systems(path, systems)


def run_case(args: argparse.Namespace) -> dict:
    """One case in this process: build batches, time ``steps`` optimiser steps after a warm-up."""
    import torch

    from neuralmd_core.data.batch import collate_systems
    from neuralmd_core.data.store import open_dataset
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.tasks import SystemCache, WindowDataset

    torch.manual_seed(0)
    device = torch.device(args.device)
    with open_dataset(args.dataset) as ds:
        names = ds.names()
        data = WindowDataset(SystemCache(names, ds.load))
        if args.task == "single":
            keys_ = [[(0, a, 3)] for a in range(args.steps + 1)]
        else:
            keys_ = [[(i, 0, args.horizon + 1) for i in range(len(names))]] * (args.steps + 1)
        batches = [collate_systems([data[k] for k in batch]) for batch in keys_]
    options = {"adjoint": True} if args.adjoint else {}
    method = build_method(args.model, {}, options).to(device).train()
    opt = torch.optim.Adam(method.parameters(), lr=1e-4)
    known = 2 if args.task == "single" else 1
    loss_name = method.default_loss[args.task]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for batch in batches:
        batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        t0 = time.perf_counter()
        loss = method.loss(batch, known, args.task, loss_name)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
        print(f"{args.task} step {len(times)}: {times[-1]:.3f} s", file=sys.stderr)
    timed = times[1:]  # the first step is a warm-up
    out = {
        "task": args.task,
        "model": args.model,
        "adjoint": args.adjoint,
        "device": args.device,
        "batch_systems": int(batches[0]["num_systems"]),
        "frames_per_item": int(batches[0]["lig_pos"].shape[0]),
        "timed_steps": len(timed),
        "steps_per_s": len(timed) / sum(timed),
        "s_per_step": sum(timed) / len(timed),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        out["peak_gpu_memory_MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["gpu"] = torch.cuda.get_device_name(device)
    out["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--model", default="neuralmd-ode")
    p.add_argument("--steps", type=int, default=5, help="timed steps, single task")
    p.add_argument("--multi-steps", type=int, default=2, help="timed steps, multi task")
    p.add_argument("--horizon", type=int, default=99, help="multi task: frames 0..H")
    p.add_argument("--dataset", type=Path, default=None, help="prepared .h5 (default: T4L 0-3)")
    p.add_argument("--case", choices=["single", "multi"], help=argparse.SUPPRESS)
    p.add_argument("--task", default="single", help=argparse.SUPPRESS)
    p.add_argument("--adjoint", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        args.task = args.case
        print(json.dumps(run_case(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset or Path(tmp) / "t4l.h5"
        if args.dataset is None:
            make_dataset(dataset)
        cases = [("single", False, args.steps), ("multi", False, args.multi_steps),
                 ("multi", True, args.multi_steps)]  # fmt: skip
        results = []
        for task, adjoint, steps in cases:
            cmd = [sys.executable, __file__, "--case", task, "--device", args.device,
                   "--model", args.model, "--steps", str(steps), "--horizon", str(args.horizon),
                   "--dataset", str(dataset)] + (["--adjoint"] if adjoint else [])  # fmt: skip
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "train_speed", "results": results}, indent=2))


if __name__ == "__main__":
    main()
