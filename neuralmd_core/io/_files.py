"""Small helpers shared by the readers: file checks, one-line error messages, and silencing
what C libraries (xdrfile, the DCD plugin, HDF5) print on the process's file descriptors."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from neuralmd_core.errors import InputError

log = logging.getLogger(__name__)


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


@dataclass
class Captured:
    """What a block run under :func:`captured_output` printed.

    Attributes:
        text: everything written to file descriptors 1 and 2 (C libraries' chatter), decoded.
        warnings: the Python warnings raised in the block, as ``Category: message`` lines.
    """

    text: str = ""
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The C text and the warnings, one stripped non-empty line each."""
        out = [ln.strip() for ln in self.text.splitlines() if ln.strip()]
        return out + self.warnings


def _flush_all() -> None:
    """Flush Python's and C's stdio buffers, so nothing buffered crosses a redirection."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def captured_output() -> Iterator[Captured]:
    """Run a block with file descriptors 1 and 2 sent to a temporary file, and warnings caught.

    Around every mdtraj/xdrfile/DCD-plugin call: those C libraries print straight to the
    process's descriptors (``(xdrfile error) ...``, ``dcdplugin) ...``), which would glue noise to
    our one-line errors and put text on stdout. The captured text is given back in the yielded
    :class:`Captured` (filled when the block ends, also when it raises) so the caller can say
    the problem in its own words; it is logged at DEBUG level (``-vv``).

    Yields:
        A :class:`Captured`, empty until the block has ended.
    """
    cap = Captured()
    _flush_all()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real descriptors (embedded interpreter): nothing to protect
        saved = []
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for fd in (1, 2) if saved else ():
                os.dup2(sink.fileno(), fd)
            yield cap
        finally:
            _flush_all()
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            sink.seek(0)
            cap.text = sink.read().decode("utf-8", errors="replace")
            cap.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
            for line in cap.lines():
                log.debug("(library) %s", line)
