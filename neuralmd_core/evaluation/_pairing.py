"""Which predicted frames are compared with which reference frames (``evaluate``, ``rmsf``).

By time when both files carry frame times (XTC, TRR, NetCDF, HDF5, a DCD with a time step in its
header): the reference frame whose time equals the prediction's first time. Otherwise the tail
rule: the prediction covers the reference's last frames. ``--start`` overrides both. Every
pairing is said on stderr (one warning line) and kept in the report's meta.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralmd_core.errors import InputError

log = logging.getLogger(__name__)

#: times closer than this (or 1 % of the interval, if larger) are the same frame time, ps
TIME_TOL_PS = 1e-3


def time_tolerance(*times: np.ndarray) -> float:
    """Tolerance (ps) for matching frame times: 1 % of the smallest interval, at least 1e-3."""
    steps = [float(np.median(np.diff(t))) for t in times if np.size(t) > 1]
    return max([TIME_TOL_PS] + [0.01 * abs(s) for s in steps])


def match_time(times: np.ndarray, t: float, tol: float) -> int | None:
    """Index of the frame of ``times`` (ps) at time ``t`` (within ``tol``), else ``None``."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return None
    k = int(np.argmin(np.abs(times - t)))
    return k if abs(times[k] - t) <= tol else None


def _span(idx: np.ndarray) -> str:
    return f"{int(idx[0])}..{int(idx[-1])}" if idx.size else "none"


@dataclass(frozen=True)
class Pairing:
    """Predicted frames ``pred[k]`` are compared with reference frames ``ref[k]``.

    Attributes:
        pred: (S,) predicted frame indices. ref: (S,) reference frame indices.
        rule: ``"time"``, ``"tail"`` or ``"--start"``.
        note: why the rule was chosen when it is not by time, or what was left out.
    """

    pred: np.ndarray
    ref: np.ndarray
    rule: str
    note: str = ""
    times_ps: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def describe(self) -> str:
        """One line: which frames were paired with which, and by which rule."""
        how = {"time": "by time", "tail": "by the tail rule", "--start": "by --start"}[self.rule]
        when = (f" ({self.times_ps[0]:g}-{self.times_ps[-1]:g} ps)"
                if self.rule == "time" and self.times_ps.size else "")  # fmt: skip
        text = (f"predicted frames {_span(self.pred)} paired with reference frames "
                f"{_span(self.ref)} {how}{when}")  # fmt: skip
        return f"{text}; {self.note}" if self.note else text

    def as_meta(self) -> dict:
        """The pairing for a report's meta (JSON)."""
        return {"rule": self.rule, "pred_frames": [int(self.pred[0]), int(self.pred[-1])],
                "ref_frames": [int(self.ref[0]), int(self.ref[-1])], "note": self.note}  # fmt: skip


def _fit(offset: int, s: int, t: int, path: Path | str, how: str) -> None:
    if offset < 0 or offset + s > t:
        hint = "" if how == "--start" else "; pair them with --start"
        raise InputError(path, f"{s} predicted frames from reference frame {offset} ({how}) do "
                         f"not fit in the {t}-frame reference{hint}")  # fmt: skip


def pair_frames(
    pred_t: np.ndarray,
    ref_t: np.ndarray,
    times_known: bool,
    start: int | None,
    path: Path | str,
) -> Pairing:
    """Pair a prediction's frames with a reference's (the rules of the module docstring).

    Args:
        pred_t: (S,) predicted frame times, ps. ref_t: (T,) reference frame times, ps.
        times_known: both files carry real times (else the times are frame numbers).
        start: ``--start`` (reference frame of predicted frame 0), or ``None``.
        path: the prediction, for messages.

    Returns:
        A :class:`Pairing`. By time, predicted frames past the reference's end are left out
        (and said in ``note``).

    Raises:
        InputError: the prediction does not fit in the reference (tail rule or ``--start``).
    """
    pred_t, ref_t = np.asarray(pred_t, float), np.asarray(ref_t, float)
    s, t = pred_t.size, ref_t.size
    if start is not None:
        _fit(int(start), s, t, path, "--start")
        ref = int(start) + np.arange(s)
        note = ""
        if times_known and not np.allclose(pred_t, ref_t[ref], atol=time_tolerance(ref_t)):
            note = (f"their times differ ({pred_t[0]:g} ps against {ref_t[ref[0]]:g} ps); "
                    "frames are paired by index")  # fmt: skip
        return Pairing(np.arange(s), ref, "--start", note)
    if times_known:
        k = match_time(ref_t, pred_t[0], time_tolerance(pred_t, ref_t))
        if k is not None:
            n = min(s, t - k)
            note = "" if n == s else (f"predicted frames {n}..{s - 1} ({pred_t[n]:g} ps on) are "
                                      "past the reference's last frame: not scored")  # fmt: skip
            return Pairing(np.arange(n), k + np.arange(n), "time", note, pred_t[:n])
        note = (f"the prediction's first time {pred_t[0]:g} ps is no reference frame's time "
                f"({ref_t[0]:g}..{ref_t[-1]:g} ps)")  # fmt: skip
    else:
        note = "one of the files has no frame times"
    _fit(t - s, s, t, path, "the tail rule")
    return Pairing(np.arange(s), t - s + np.arange(s), "tail", note)


def align_by_time(times: Sequence[np.ndarray]) -> list[tuple[int, int]] | None:
    """The frames ``(first, last)`` of each trajectory over the time span they all cover.

    Returns:
        One ``(first, last)`` per trajectory (inclusive), or ``None`` when the spans do not
        overlap or a trajectory has no frame at the span's first or last time.
    """
    tol = time_tolerance(*times)
    t0 = max(float(t[0]) for t in times)
    t1 = min(float(t[-1]) for t in times)
    if t1 < t0 - tol:
        return None
    out = []
    for t in times:
        a, b = match_time(t, t0, tol), match_time(t, t1, tol)
        if a is None or b is None:
            return None
        out.append((a, b))
    return out
