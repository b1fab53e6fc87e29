"""Sliding-window RMSF of the ligand (spec §6, the paper's Eq. 2 and Fig. 3a) and its plot.

For a window W of ``window`` consecutive snapshots,

    RMSF_W = sqrt( mean_{t∈W} (1/N) Σ_i ‖r_{i,t} − mean_{t∈W} r_i‖² )      (Å)

over the N ligand heavy atoms, with no superposition (the protein frame is fixed). Windows start
at ``start``, ``start+stride``, ... while they fit in the trajectory; the paper's windows are
snapshots 80–84, 81–85, ..., 95–99 (``start=80, window=5, stride=1``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class RMSFCurve:
    """One trajectory's sliding-window RMSF.

    Attributes:
        label: the curve's name (a file name or a method).
        window_start: (W,) first snapshot index of each window (0-based).
        window_end: (W,) last snapshot index of each window (inclusive).
        time_ps: (W,) mean time of each window's snapshots, ps.
        rmsf_A: (W,) RMSF of each window, Å.
    """

    label: str
    window_start: np.ndarray
    window_end: np.ndarray
    time_ps: np.ndarray
    rmsf_A: np.ndarray


def window_starts(num_frames: int, window: int = 5, start: int = 0, stride: int = 1) -> np.ndarray:
    """First snapshot of each full window in ``[start, num_frames)``; ``ValueError`` if none fit."""
    if window < 1 or stride < 1 or start < 0:
        raise ValueError("window and stride must be >= 1 and start >= 0")
    starts = np.arange(start, num_frames - window + 1, stride)
    if starts.size == 0:
        raise ValueError(
            f"no window of {window} snapshots fits in snapshots {start}..{num_frames - 1}"
        )
    return starts


def window_rmsf(pos) -> float:
    """RMSF (Å) of one window: ``pos`` (W, N, 3) Å → sqrt(mean_t (1/N) Σ_i ‖r_it − r̄_i‖²)."""
    x = np.asarray(pos, dtype=np.float64)
    dev = x - x.mean(axis=0, keepdims=True)
    return float(np.sqrt((dev**2).sum(-1).mean()))


def sliding_rmsf(
    pos, time_ps=None, window: int = 5, start: int = 0, stride: int = 1, label: str = ""
) -> RMSFCurve:
    """Sliding-window RMSF of a ligand trajectory.

    Args:
        pos: (T, N, 3) ligand heavy-atom positions, Å.
        time_ps: (T,) frame times, ps (defaults to the frame index).
        window: snapshots per window.
        start: first snapshot of the first window.
        stride: snapshots between window starts (1 = sliding, ``window`` = disjoint).
        label: the curve's name.
    """
    x = np.asarray(pos, dtype=np.float64)
    t = np.arange(x.shape[0], dtype=np.float64) if time_ps is None else np.asarray(time_ps, float)
    starts = window_starts(x.shape[0], window, start, stride)
    values = np.array([window_rmsf(x[s : s + window]) for s in starts])
    times = np.array([t[s : s + window].mean() for s in starts])
    return RMSFCurve(label, starts, starts + window - 1, times, values)


def rmsf_error(pred: RMSFCurve, true: RMSFCurve) -> float:
    """Mean over windows of |RMSF_pred − RMSF_true| (Å); the windows must coincide."""
    if not np.array_equal(pred.window_start, true.window_start):
        raise ValueError("RMSF curves cover different windows")
    return float(np.mean(np.abs(pred.rmsf_A - true.rmsf_A)))


def curves_table(curves: Sequence[RMSFCurve]) -> list[dict]:
    """Long-format rows: one per (curve, window) with label, window bounds, time_ps, rmsf_A."""
    return [
        {
            "label": c.label,
            "window_start_snapshot": int(s),
            "window_end_snapshot": int(e),
            "time_ps": float(t),
            "rmsf_A": float(v),
        }
        for c in curves
        for s, e, t, v in zip(c.window_start, c.window_end, c.time_ps, c.rmsf_A)
    ]


def plot_rmsf(curves: Sequence[RMSFCurve], path: str | Path, title: str | None = None) -> Path:
    """Write a figure with one RMSF curve per trajectory (x: window mid-time, ps; y: RMSF, Å).

    The extension picks the format (``.png .pdf .svg .jpg``); the file is written to a
    temporary name in the same folder, then renamed.

    Raises:
        InputError: an unknown extension, or the folder does not exist.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuralmd_core.evaluation._files import check_plot_output, save_figure

    path = check_plot_output(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    try:
        for c in curves:
            ax.plot(c.time_ps, c.rmsf_A, marker="o", markersize=3, label=c.label or None)
        ax.set_xlabel("window mid-time (ps)")
        ax.set_ylabel("ligand RMSF (Å)")
        ax.set_title(title or "Sliding-window RMSF of the ligand heavy atoms")
        ax.grid(alpha=0.3)
        if any(c.label for c in curves):
            ax.legend(fontsize="small")
        fig.tight_layout()
        return save_figure(fig, path, dpi=120)
    finally:
        plt.close(fig)


def _windows_span(paths, data, start: int | None) -> list[tuple[int, int]]:
    """``(first, last)`` frame of each trajectory's windows, and one warning line saying which.

    With ``start``: from frame ``start`` to the end of each. Else by time when every file
    carries frame times and they share a time span (each trajectory's frames over the span all
    cover); else the tail rule (each covers its last ``min_j T_j`` frames).
    """
    from neuralmd_core.evaluation._pairing import align_by_time
    from neuralmd_core.io.writers import has_times

    lengths = [d.lig_pos_A.shape[0] for d in data]
    if start is not None:
        return [(int(start), n - 1) for n in lengths]
    rule, spans = "by time", None
    if all(has_times(p) for p in paths):
        spans = align_by_time([d.time_ps for d in data])
        if spans is None:
            rule = "by the tail rule (the trajectories' times do not overlap)"
    else:
        rule = "by the tail rule (not every file has frame times)"
    if spans is None:
        shortest = min(lengths)
        spans = [(n - shortest, n - 1) for n in lengths]
    if len(paths) > 1:
        parts = [f"{p}: frames {a}..{b} ({d.time_ps[a]:g}-{d.time_ps[b]:g} ps)"
                 for p, d, (a, b) in zip(paths, data, spans)]  # fmt: skip
        log.warning("rmsf: windows paired %s: %s", rule, "; ".join(parts))
    return spans


def rmsf_files(
    trajectories: Sequence[str | Path],
    top: str | Path | Sequence[str | Path] | None,
    window: int = 5,
    start: int | None = None,
    stride: int = 1,
    labels: Sequence[str] | None = None,
    ligand_resname: str | None = None,
) -> list[RMSFCurve]:
    """Sliding-window RMSF of the ligand in each trajectory file.

    Which frames: from ``start`` to the end of each trajectory when it is given. By default the
    trajectories are paired by time when every file carries frame times: each curve covers the
    time span all of them cover (a 20-frame rollout whose times start at 79 ps and its 100-frame
    ground truth → windows over the truth's frames 79..98). Without times (PDB, an untimed DCD),
    the tail rule: each covers its last ``min_j T_j`` frames (→ the truth's frames 80..99).
    With several trajectories, one warning line on stderr says which frames were used.

    Args:
        trajectories: trajectory files (all with the topology ``top`` or carrying their own).
        top: one topology for all (a trajectory it cannot describe is read with the topology
            PDB next to it), one per trajectory, or ``None``: the topology PDB that
            ``neuralmd`` writes next to each trajectory (``traj.pdb`` for ``traj.xtc``).
        window, stride: window size and spacing (snapshots, both at least 1).
        start: first snapshot of the first window in every trajectory (at least 0).
        labels: one curve label per trajectory (default: the file paths).
        ligand_resname: the ligand residue name.

    Raises:
        InputError: bad window/stride/start, unreadable files, labels of the wrong count, no
            window that fits.
    """
    from neuralmd_core.errors import InputError
    from neuralmd_core.io.writers import read_ligand_trajectory, resolve_topologies

    for option, value, low in (("--window", window, 2), ("--stride", stride, 1),
                               ("--start", start, 0)):  # fmt: skip
        if value is not None and value < low:
            raise InputError(option, f"must be at least {low} (got {value})")
    if labels is not None and len(labels) != len(trajectories):
        raise InputError("--labels", f"{len(labels)} labels for {len(trajectories)} trajectories")
    names = list(labels) if labels is not None else [str(p) for p in trajectories]
    tops = resolve_topologies(trajectories, top)
    data = [read_ligand_trajectory(p, t, ligand_resname) for p, t in zip(trajectories, tops)]
    curves = []
    spans = _windows_span(trajectories, data, start)
    for path, name, d, (first, last) in zip(trajectories, names, data, spans):
        try:
            curves.append(sliding_rmsf(d.lig_pos_A[: last + 1], d.time_ps[: last + 1], window,
                                       first, stride, name))  # fmt: skip
        except ValueError as exc:
            raise InputError(path, str(exc)) from exc
    return curves
