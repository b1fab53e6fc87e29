"""Small helpers shared by the readers: file checks and one-line error messages."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from neuralmd_core.errors import InputError


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that it is an existing, non-empty file.

    Raises:
        InputError: the file is missing, a directory, or empty.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if p.is_dir():
        raise InputError(p, "is a directory, expected a file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    return p


def short(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception message, shortened, for a one-line error."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send C-level writes to file descriptor 1 (e.g. mdtraj's dcdplugin chatter) to stderr.

    Results go to stdout and nothing else does, so library noise is redirected.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real fd 1 (e.g. captured): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
