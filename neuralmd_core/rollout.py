"""The rollout engine: a trained method + a complex → predicted ligand trajectories.

The engine is a short loop with hooks: it collates the complexes, asks the method for
``(K, S, N, 3)`` snapshots in one batched computation, runs the divergence guard over every
predicted snapshot, and hands the valid prefix of each trajectory to a writer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from neuralmd_core import keys
from neuralmd_core.data.batch import collate_systems
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.dynamics.base import Method

#: Boltzmann constant, kcal/mol/K.
KB_KCAL_PER_MOL_K = 0.0019872041
#: sqrt(kcal/mol/amu) expressed in Å/ps.
SQRT_KCAL_PER_AMU_IN_A_PER_PS = math.sqrt(418.4)


@dataclass(frozen=True)
class GuardOptions:
    """Thresholds of the divergence guard.

    Attributes:
        max_displacement_A: largest allowed per-snapshot displacement of any ligand atom, Å.
        max_bond_stretch: largest allowed ratio of a ligand bond length to its input length.
        min_backbone_distance_A: smallest allowed ligand heavy atom – backbone atom distance, Å.
    """

    max_displacement_A: float = 8.0
    max_bond_stretch: float = 1.5
    min_backbone_distance_A: float = 1.5


@dataclass
class GuardVerdict:
    """Where a trajectory stopped being valid (``None`` fields when it never did)."""

    valid_snapshots: int
    diverged_at_snapshot: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def check_trajectory(
    traj: np.ndarray,
    start: np.ndarray,
    bonds: np.ndarray,
    backbone: np.ndarray,
    guard: GuardOptions,
) -> GuardVerdict:
    """Run the divergence guard over a predicted trajectory of one complex.

    Args:
        traj: (S, N, 3) predicted ligand positions, Å.
        start: (N, 3) the last known pose, Å (reference for displacement and bond lengths).
        bonds: (B, 2) ligand heavy-atom bonds.
        backbone: (3R, 3) backbone atom positions (N, CA, C), Å.
        guard: thresholds.

    Returns:
        The number of valid leading snapshots and, at the first invalid one, its 0-based index
        among the predicted snapshots and the reason.
    """
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    ref_len = np.linalg.norm(start[bonds[:, 0]] - start[bonds[:, 1]], axis=-1)
    prev = start
    for s, frame in enumerate(traj):
        reason = _first_violation(frame, prev, bonds, ref_len, backbone, guard)
        if reason is not None:
            return GuardVerdict(valid_snapshots=s, diverged_at_snapshot=s, reason=reason)
        prev = frame
    return GuardVerdict(valid_snapshots=int(traj.shape[0]))


def _first_violation(frame, prev, bonds, ref_len, backbone, guard: GuardOptions) -> str | None:
    if not np.isfinite(frame).all():
        return "non-finite coordinates (NaN/inf)"
    step = float(np.linalg.norm(frame - prev, axis=-1).max())
    if step > guard.max_displacement_A:
        return f"ligand atom moved {step:.2f} A in one snapshot (> {guard.max_displacement_A} A)"
    if len(bonds):
        length = np.linalg.norm(frame[bonds[:, 0]] - frame[bonds[:, 1]], axis=-1)
        ratio = length / np.maximum(ref_len, 1e-6)
        worst = int(np.argmax(ratio))
        if ratio[worst] > guard.max_bond_stretch:
            i, j = bonds[worst]
            return (
                f"bond {i}-{j} stretched to {ratio[worst]:.2f}x its input length "
                f"(> {guard.max_bond_stretch}x)"
            )
    if len(backbone):
        dmin = float(np.sqrt(((frame[:, None, :] - backbone[None]) ** 2).sum(-1)).min())
        if dmin < guard.min_backbone_distance_A:
            return (
                f"ligand heavy atom {dmin:.2f} A from a protein backbone atom "
                f"(< {guard.min_backbone_distance_A} A)"
            )
    return None


def thermal_velocity(
    masses_amu: np.ndarray,
    temperature_K: float,
    snapshot_interval_ps: float,
    generator: torch.Generator,
) -> np.ndarray:
    """Maxwell–Boltzmann velocities, in Å per snapshot interval.

    Each Cartesian component is normal with standard deviation sqrt(kB T / m).

    Args:
        masses_amu: (N,) atomic masses, amu.
        temperature_K: temperature, K.
        snapshot_interval_ps: the model's snapshot interval, ps.
        generator: source of randomness.

    Returns:
        (N, 3) velocities, Å per snapshot interval.
    """
    kt = KB_KCAL_PER_MOL_K * float(temperature_K)
    sigma_a_per_ps = np.sqrt(kt / np.asarray(masses_amu, dtype=np.float64))
    sigma_a_per_ps = sigma_a_per_ps * SQRT_KCAL_PER_AMU_IN_A_PER_PS
    noise = torch.randn((len(masses_amu), 3), generator=generator, dtype=torch.float64).numpy()
    return noise * sigma_a_per_ps[:, None] * float(snapshot_interval_ps)


def predict(
    method: Method,
    systems: Sequence[BindingSystem],
    n_snapshots: int,
    samples: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    init_velocity: Sequence[np.ndarray | None] | None = None,
    progress: str | None = None,
    compile: bool | str = "auto",
) -> list[np.ndarray]:
    """Roll out several complexes in one batched computation.

    Args:
        method: a trained method (any registered name).
        systems: complexes whose ``lig_pos`` ``(H, N, 3)`` holds the known history (H ≥ 1).
            All must have the same H.
        n_snapshots: snapshots to predict (S).
        samples: trajectories per complex (K).
        seed: seed of the sampling generator.
        device: torch device.
        init_velocity: per complex, ``(N, 3)`` Å per snapshot interval or ``None`` (the method
            then estimates it from the history).
        progress: the label of a progress bar over the snapshots on stderr (drawn only where
            :func:`neuralmd_core.progress.enabled`), or ``None`` for none.
        compile: run the network through ``torch.compile`` (``True``), not (``False``), or
            ``"auto"``: only for rollouts long enough to repay the compilation
            (:func:`should_compile`).

    Returns:
        One ``(K, S, N_i, 3)`` float64 array (Å) per complex.
    """
    batch = rollout_batch(method, systems, device, init_velocity)
    if compile == "auto":
        compile = should_compile(samples * len(systems), n_snapshots)
    out = run_batch_rollout(method, batch, n_snapshots, samples, seed, progress, bool(compile))
    out = out.to("cpu", torch.float64).numpy()
    splits = np.cumsum([0] + [s.num_atoms for s in systems])
    return [out[:, :, a:b] for a, b in zip(splits[:-1], splits[1:])]


def rollout_batch(
    method: Method,
    systems: Sequence[BindingSystem],
    device: str | torch.device = "cpu",
    init_velocity: Sequence[np.ndarray | None] | None = None,
) -> dict:
    """Collate ``systems`` for :func:`run_batch_rollout` (the method's dtype, on ``device``).

    Args and units as in :func:`predict`.
    """
    device = torch.device(device)
    dtype = next((p.dtype for p in method.parameters()), torch.float32)
    batch = collate_systems(
        [s.static_tensors() | {keys.LIG_POS: s.lig_pos} for s in systems], dtype
    )
    batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
    if init_velocity is not None and any(v is not None for v in init_velocity):
        vel = [
            _history_velocity(s) if v is None else np.asarray(v)
            for s, v in zip(systems, init_velocity)
        ]
        batch["init_velocity"] = torch.as_tensor(np.concatenate(vel), dtype=dtype, device=device)
    return batch


#: ``compile="auto"`` compiles a rollout of at least this many predicted frames (trajectories ×
#: snapshots): compilation takes 15–30 s on 2 cores and then saves 30–50 % of the time (t4l,
#: docs/performance.md), so it repays itself only from about a minute of eager rollout
AUTO_COMPILE_FRAMES = 200_000


def should_compile(trajectories: int, n_snapshots: int) -> bool:
    """``compile="auto"``: whether a rollout is long enough for ``torch.compile`` to pay."""
    return int(trajectories) * int(n_snapshots) >= AUTO_COMPILE_FRAMES


#: on the CPU, a rollout of fewer atoms (samples × ligand atoms) than this runs on one thread:
#: its tensors are so small that OpenMP's fork/join per op costs more than a second core gains
#: (2-core machine, idle: 11gs ×1 115 snapshots/s on one thread, 71 on two; t4l ×32, 256
#: atoms, 1,041 against 1,340 and 11gs ×8, 312 atoms, 122 against 202; docs/performance.md)
SINGLE_THREAD_ATOMS = 256


@contextmanager
def cpu_threads(device: torch.device, atoms: int, threads: int | None = None):
    """Run the enclosed rollout on ``threads`` CPU threads; by default (``None``) on one thread
    when it is small (``SINGLE_THREAD_ATOMS``), otherwise, and on CUDA, with the threads torch
    already has (every core by default)."""
    previous = torch.get_num_threads()
    if threads is None:
        threads = 1 if device.type == "cpu" and atoms < SINGLE_THREAD_ATOMS else previous
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def compiled_network(method: Method, enabled: bool):
    """While enclosed, the method's network runs through ``torch.compile`` (``NetMethod``s;
    others ignore it). Eager when compilation fails, with one warning."""
    before = getattr(method, "compile_network", None)
    object.__setattr__(method, "compile_network", bool(enabled))
    try:
        yield
    finally:
        if before is None:
            del method.__dict__["compile_network"]
        else:
            object.__setattr__(method, "compile_network", before)


def run_batch_rollout(
    method: Method,
    batch: dict,
    n_snapshots: int,
    samples: int = 1,
    seed: int = 0,
    progress: str | None = None,
    compile: bool = False,
    threads: int | None = None,
) -> torch.Tensor:
    """The batched computation alone: ``(K, S, N_tot, 3)`` Å on the batch's device.

    ``progress`` labels a bar over the snapshots (see :func:`snapshot_progress`; with
    ``compile`` it fills at the end), or ``None``. ``compile``: the network runs through
    ``torch.compile`` (same results to float rounding; the first call compiles, tens of
    seconds). ``threads``: CPU threads (``None``: see :func:`cpu_threads`).
    """
    device = batch[keys.LIG_POS].device
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    if any(t.device != device for t in (*method.parameters(), *method.buffers())):
        method = method.to(device)  # walks every module (ms): only when something must move
    method = method.eval()
    atoms = int(samples) * int(batch[keys.LIG_POS].shape[1])
    grad = torch.enable_grad() if _needs_grad(method) else torch.inference_mode()
    bar = None if compile else progress
    with grad, cpu_threads(device, atoms, threads), compiled_network(method, compile):
        with snapshot_progress(method, batch, int(n_snapshots), bar):
            out = method.rollout(batch, int(n_snapshots), samples=int(samples), generator=generator)
    return out.detach()


def _count_calls(method: Method) -> tuple[list[int], list]:
    """Forward hooks counting every call of the method's modules: (counter, hook handles)."""
    calls = [0]

    def hook(*_args) -> None:
        calls[0] += 1

    handles = [m.register_forward_hook(hook) for m in method.modules() if m is not method]
    return calls, handles


def _calls_per_snapshot(method: Method, batch: dict) -> tuple[int, int]:
    """Module calls of a rollout of S snapshots as ``fixed + per · S``: ``(per, fixed)``.

    Measured on throw-away rollouts of 1 and 2 snapshots of one sample (every solver of the
    package takes a fixed number of network evaluations per snapshot); ``(0, 0)`` when the
    method cannot be measured this way (the bar then fills at the end).
    """
    counts = []
    device = batch[keys.LIG_POS].device
    try:  # the global generators are restored: a bar never changes a trajectory
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for n in (1, 2):
                calls, handles = _count_calls(method)
                try:
                    method.rollout(batch, n, samples=1, generator=torch.Generator().manual_seed(0))
                finally:
                    for h in handles:
                        h.remove()
                counts.append(calls[0])
    except Exception:  # a progress bar is never worth a failed rollout
        return 0, 0
    per = counts[1] - counts[0]
    return (per, counts[0] - per) if per > 0 else (0, 0)


@contextmanager
def snapshot_progress(method: Method, batch: dict, n_snapshots: int, desc: str | None):
    """A tqdm bar over the snapshots of the enclosed ``method.rollout`` on stderr.

    Methods roll out all snapshots in one call, so the bar follows their module calls, at the
    rate measured by :func:`_calls_per_snapshot` (two rollouts of 1 and 2 snapshots, made only
    when a bar is drawn: stderr is a terminal or ``NEURALMD_PROGRESS=1``, and not ``--quiet``).
    """
    from neuralmd_core import progress as bars

    if desc is None or n_snapshots < 1 or not bars.enabled():
        yield
        return
    per, fixed = _calls_per_snapshot(method, batch)
    bar = bars.progress(total=n_snapshots, desc=desc, unit="snapshot")
    calls = [0]

    def advance(*_args) -> None:
        calls[0] += 1
        done = min(n_snapshots, max(0, calls[0] - fixed) // per)
        if done > bar.n:
            bar.update(done - bar.n)

    modules = [m for m in method.modules() if m is not method] if per else []
    handles = [m.register_forward_hook(advance) for m in modules]
    try:
        yield
        bar.update(n_snapshots - bar.n)
    finally:
        for h in handles:
            h.remove()
        bar.close()


def _history_velocity(system: BindingSystem) -> np.ndarray:
    """What a method estimates without a given velocity: the last finite difference, else 0."""
    pos = np.asarray(system.lig_pos, dtype=np.float64)
    return pos[-1] - pos[-2] if pos.shape[0] >= 2 else np.zeros_like(pos[-1])


def _needs_grad(method: Method) -> bool:
    """Energy-based methods differentiate E(x) during rollout."""
    return bool(getattr(method, "needs_grad_in_rollout", False))
