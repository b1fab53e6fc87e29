"""Time to ensemble: how many snapshots a run needs before its per-atom RMSF settles.

``n*`` of a run of K trajectories of S snapshots is the smallest prefix length n such that,
for every longer prefix m ≥ n (m = 2..S), the per-atom RMSF pooled over the first m snapshots
of all K trajectories is within ``tol`` (relative, every atom) of the RMSF of the whole run:

    max_i |r_m,i − r_S,i| / r_S,i ≤ tol.

RMSF is taken about the pooled mean position, without alignment (as
:func:`neuralmd_core.evaluation.realism.rmsf_per_atom`). n* is relative to the run's own length:
the whole run is the reference, so a short run can look converged sooner than a long one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralmd_core.errors import InputError

#: relative tolerance of the per-atom RMSF (10 %)
DEFAULT_TOL = 0.1


def prefix_rmsf(pos: np.ndarray) -> np.ndarray:
    """Per-atom RMSF pooled over the first m snapshots of all trajectories, for every m.

    Args:
        pos: (K, S, N, 3) positions, Å: K trajectories of S snapshots of N atoms.

    Returns:
        (S, N) float64, Å: row m − 1 is the RMSF over the K × m frames of the first m snapshots.
    """
    x = np.asarray(pos, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected positions (K, S, N, 3), got shape {x.shape}")
    k, s = x.shape[:2]
    x = x - x[0, 0]  # centred on the first frame: the cumulative sums stay small
    s1 = np.cumsum(x.sum(axis=0), axis=0)  # (S, N, 3): sum of x over the prefix
    s2 = np.cumsum((x * x).sum(axis=(0, -1)), axis=0)  # (S, N): sum of |x|² over the prefix
    count = (k * np.arange(1, s + 1, dtype=np.float64))[:, None]
    mean = s1 / count[..., None]
    var = s2 / count - (mean * mean).sum(-1)
    return np.sqrt(np.maximum(var, 0.0))


def convergence_snapshots(pos: np.ndarray, tol: float = DEFAULT_TOL) -> int:
    """Snapshots after which the pooled per-atom RMSF stays within ``tol`` of the full run's.

    Args:
        pos: (K, S, N, 3) positions, Å (K trajectories pooled, S snapshots each).
        tol: relative tolerance, dimensionless (0.1 = every atom within 10 %).

    Returns:
        n* in [2, S] (S when S < 2): the smallest n such that every prefix of m ≥ n snapshots
        has max_i |r_m,i − r_S,i| / r_S,i ≤ tol. An atom at rest in the whole run (r_S,i = 0)
        counts as converged only where its prefix RMSF is 0 too.
    """
    r = prefix_rmsf(pos)
    s = r.shape[0]
    if s < 2:
        return s
    full = r[-1]
    diff = np.abs(r - full)
    safe = np.where(full > 0, full, 1.0)
    rel = np.where(full > 0, diff / safe, np.where(diff > 0, np.inf, 0.0))  # (S, N)
    worst = rel.max(axis=1) if rel.shape[1] else np.zeros(s)
    bad = np.flatnonzero(~(worst[1:] <= tol)) + 2  # prefix lengths m = 2..S that are off
    return int(bad[-1] + 1) if bad.size else 2


def finite_prefix(pos: np.ndarray) -> np.ndarray:
    """The leading snapshots of (K, S, N, 3) positions where every trajectory is finite."""
    ok = np.isfinite(pos).all(axis=(0, 2, 3))
    return pos[:, : int(np.argmin(ok)) if not ok.all() else pos.shape[1]]


@dataclass
class MDReference:
    """Independent MD replicas of the benchmarked complex, pooled for the time to ensemble.

    Attributes:
        pos: (K, S, N, 3) ligand heavy-atom positions, Å (replicas cut to the shortest).
        interval_ps: time between saved frames, ps.
        snapshots: n* of the pooled replicas (frames), :func:`convergence_snapshots`.
    """

    pos: np.ndarray
    interval_ps: float
    snapshots: int

    @property
    def replicas(self) -> int:
        return int(self.pos.shape[0])

    @property
    def length(self) -> int:
        return int(self.pos.shape[1])


def _frame_interval(path: Path, time_ps: np.ndarray) -> float:
    if time_ps.shape[0] < 2:
        raise InputError(path, f"holds {time_ps.shape[0]} frame(s), the time to ensemble needs 2")
    step = float(np.median(np.diff(time_ps)))
    if not (np.isfinite(step) and step > 0):
        raise InputError(path, "frame times do not increase (no frame interval)")
    return step


def _check_ligand(path: Path, z: np.ndarray, expected: np.ndarray) -> None:
    if z.shape != expected.shape:
        raise InputError(
            path, f"ligand has {z.shape[0]} heavy atoms, the benchmarked ligand {expected.shape[0]}"
        )
    if not np.array_equal(z, expected):
        i = int(np.flatnonzero(z != expected)[0])
        raise InputError(
            path,
            f"ligand element sequence differs from the benchmarked ligand's (heavy atom {i}: "
            f"Z={int(z[i])}, expected Z={int(expected[i])})",
        )


def load_md_reference(
    trajs: Sequence[str | Path],
    top: str | Path | None,
    lig_z: np.ndarray,
    tol: float = DEFAULT_TOL,
) -> MDReference:
    """Read MD replicas of the benchmarked complex and their time to ensemble.

    Args:
        trajs: trajectory files, one per independent replica (pooled as K).
        top: their topology, or ``None`` for trajectories that carry one (PDB, HDF5).
        lig_z: (N,) atomic numbers of the benchmarked ligand's heavy atoms.
        tol: relative RMSF tolerance of :func:`convergence_snapshots`.

    Returns:
        The pooled replicas, their frame interval (ps) and n* (frames).

    Raises:
        InputError: unreadable file, fewer than 2 frames, no frame interval, replicas with
            different intervals, or a ligand whose heavy-atom count or elements differ.
    """
    from neuralmd_core.io.writers import read_ligand_trajectory

    expected = np.asarray(lig_z, dtype=np.int64)
    runs, interval = [], None
    for path in map(Path, trajs):
        lt = read_ligand_trajectory(path, top)
        _check_ligand(path, np.asarray(lt.lig_z, dtype=np.int64), expected)
        step = _frame_interval(path, np.asarray(lt.time_ps, dtype=np.float64))
        if interval is not None and not np.isclose(step, interval, rtol=1e-4):
            raise InputError(path, f"frame interval {step:g} ps, the first replica's {interval:g}")
        interval = step if interval is None else interval
        runs.append(np.asarray(lt.lig_pos_A, dtype=np.float64))
    shortest = min(r.shape[0] for r in runs)
    pos = np.stack([r[:shortest] for r in runs])
    return MDReference(
        pos=pos, interval_ps=float(interval), snapshots=convergence_snapshots(pos, tol)
    )
