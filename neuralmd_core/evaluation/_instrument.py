"""Instrumented rollouts for the benchmark: network evaluations, their time, peak memory.

The counted networks are a method's *top-level* networks: the instances of
:class:`~neuralmd_core.models.BindingNet` or :class:`~neuralmd_core.models.LigandNet` that are
not inside another counted one (NeuralMD-ODE: its BindingNet and the LigandNet of its initial
velocity). One evaluation of a batch of B complexes counts once.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from neuralmd_core import keys
from neuralmd_core import rollout as engine
from neuralmd_core.dynamics.base import Method

#: seconds between two reads of ``/proc/self/statm`` while a CPU rollout runs
RSS_PERIOD_S = 0.002
MIB = 1024.0 * 1024.0


def sync(device: torch.device) -> None:
    """Wait for the device's queued kernels (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rollout_kwargs(compile: bool = False, threads: int | None = None, samples: int = 1) -> dict:
    """Keyword arguments of :func:`neuralmd_core.rollout.run_batch_rollout` for these options
    (``samples``: the B trajectories of a benchmark batch, all of the one complex)."""
    kwargs: dict = {"samples": int(samples), "compile": bool(compile)}
    if threads is not None:
        kwargs["threads"] = int(threads)
    return kwargs


def top_level_nets(method: nn.Module) -> list[nn.Module]:
    """The method's BindingNet/LigandNet instances that are not inside another one, in order."""
    from neuralmd_core.models import BindingNet, LigandNet

    nets: list[nn.Module] = []
    inside: set[int] = set()
    for module in method.modules():  # pre-order: a parent comes before its children
        if isinstance(module, (BindingNet, LigandNet)) and id(module) not in inside:
            nets.append(module)
            inside.update(id(m) for m in module.modules())
    return nets


@dataclass
class EvalStats:
    """What the hooks of :func:`eval_hooks` saw.

    Attributes:
        calls: outermost forward calls of the counted networks.
        seconds: wall time inside them, s (synchronised on CUDA).
        threads: ``torch.get_num_threads()`` at the first call, or ``None`` without calls.
    """

    calls: int = 0
    seconds: float = 0.0
    threads: int | None = None


@contextmanager
def eval_hooks(nets: list[nn.Module], device: torch.device, timed: bool = True):
    """Count (and time) the forward calls of ``nets``; a call inside another counts not.

    Yields:
        The :class:`EvalStats` filled while the block runs.
    """
    stats, depth, start = EvalStats(), [0], [0.0]

    def pre(*_args) -> None:
        if depth[0] == 0:
            if stats.threads is None:
                stats.threads = torch.get_num_threads()
            if timed:
                sync(device)
                start[0] = time.perf_counter()
        depth[0] += 1

    def post(*_args) -> None:
        depth[0] -= 1
        if depth[0] == 0:
            stats.calls += 1
            if timed:
                sync(device)
                stats.seconds += time.perf_counter() - start[0]

    handles = [n.register_forward_pre_hook(pre) for n in nets]
    handles += [n.register_forward_hook(post) for n in nets]
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()


def evals_per_snapshot(method: Method, batch: dict) -> int:
    """Network evaluations per predicted snapshot: calls of rollouts of 2 minus 1 snapshots.

    The throw-away rollouts run eagerly and leave the global random generators as they were.
    """
    nets = top_level_nets(method)
    if not nets:
        return 0
    device = batch[keys.LIG_POS].device
    counts = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for n in (1, 2):
            with eval_hooks(nets, device, timed=False) as stats:
                engine.run_batch_rollout(method, batch, n)
            counts.append(stats.calls)
    return max(0, counts[1] - counts[0])


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Peak memory of the enclosed block, MiB.

    On CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``
    (``mem_kind`` "cuda"); on the CPU the process's peak resident set size, sampled from
    ``/proc/self/statm`` every :data:`RSS_PERIOD_S` by a daemon thread (else ``ru_maxrss``,
    the peak of the whole process) (``mem_kind`` "rss").

    Yields:
        A dict that holds ``peak_mem_MiB`` and ``mem_kind`` once the block is left.
    """
    out: dict = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        out.update(peak_mem_MiB=torch.cuda.max_memory_allocated(device) / MIB, mem_kind="cuda")
        return
    peak, stop = [_rss_bytes() or 0], threading.Event()

    def sample() -> None:
        while not stop.wait(RSS_PERIOD_S):
            peak[0] = max(peak[0], _rss_bytes() or 0)

    sampler = threading.Thread(target=sample, name="neuralmd-rss", daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        stop.set()
        sampler.join()
    peak[0] = max(peak[0], _rss_bytes() or 0)
    out.update(peak_mem_MiB=(peak[0] or _maxrss_bytes()) / MIB, mem_kind="rss")


def instrumented_rollout(
    method: Method, batch: dict, snapshots: int, kwargs: dict, atoms: int
) -> dict:
    """One extra rollout with timed network evaluations and peak memory (not the FPS timing).

    Args:
        method: the method.
        batch: the collated batch of B complexes (:func:`neuralmd_core.rollout.rollout_batch`).
        snapshots: predicted snapshots.
        kwargs: the rollout options (:func:`rollout_kwargs`); compiled rollouts first get an
            untimed instrumented rollout of 2 snapshots, so no compilation is timed.
        atoms: ligand atoms of the batch (B × N), for the automatic thread choice.

    Returns:
        ``eval_ms`` (mean wall ms of one evaluation, ``None`` without networks), ``eval_share``
        (evaluation wall / rollout wall), ``peak_mem_MiB``, ``mem_kind`` and ``threads``.
    """
    nets, device = top_level_nets(method), batch[keys.LIG_POS].device
    if kwargs.get("compile"):
        with eval_hooks(nets, device):
            engine.run_batch_rollout(method, batch, 2, **kwargs)
    with peak_memory(device) as mem, eval_hooks(nets, device) as stats:
        sync(device)
        t0 = time.perf_counter()
        engine.run_batch_rollout(method, batch, snapshots, **kwargs)
        sync(device)
        wall = time.perf_counter() - t0
    threads = stats.threads
    if threads is None:  # no network saw the rollout: what the engine would have chosen
        threads = kwargs.get("threads") or (
            1
            if device.type == "cpu" and atoms < engine.SINGLE_THREAD_ATOMS
            else torch.get_num_threads()
        )
    return {
        "eval_ms": 1000.0 * stats.seconds / stats.calls if stats.calls else None,
        "eval_share": min(1.0, stats.seconds / wall) if stats.calls and wall > 0 else None,
        **mem,
        "threads": int(threads),
    }
