"""Progress bars for long work (rollout, training epochs, evaluation, prepare), on stderr.

Bars are drawn with tqdm on stderr only when stderr is a terminal and the user did not ask for
quiet (``--quiet`` in the CLI calls :func:`set_quiet`), so pipelines and logs stay clean and
stdout carries results only. ``NEURALMD_PROGRESS=1`` forces bars on and draws every step, not
only every 0.1 s (for tests and logs, which then always show the last state before the bar is
cleared); ``NEURALMD_PROGRESS=0`` forces them off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Turn progress bars off (``True``) or back to the terminal default (``False``)."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled() -> bool:
    """Whether bars are drawn now: not quiet, and stderr is a terminal (or forced on)."""
    if _QUIET:
        return False
    forced = os.environ.get("NEURALMD_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(
    iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it"
) -> Any:
    """A tqdm bar on stderr over ``iterable`` (or a manual one with ``total``), or a silent one.

    Args:
        iterable: what to iterate; ``None`` for a manual bar updated with ``.update(n)``.
        total: number of steps, when ``iterable`` has no length.
        desc: the label shown before the bar.
        unit: what one step is (``snapshot``, ``epoch``, ``file``).

    Returns:
        A tqdm object; when bars are off it draws nothing but still iterates and counts.
    """
    every = os.environ.get("NEURALMD_PROGRESS") == "1"  # logs and tests: draw every step
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled(),
        leave=False, dynamic_ncols=True, **({"mininterval": 0, "miniters": 1} if every else {}),
    )  # fmt: skip
