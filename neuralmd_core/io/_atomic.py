"""Atomic output: write to temporary files beside the targets, then rename them all at once.

Every writer of the package goes through :func:`atomic_outputs`, so an interrupted or failed
command leaves no partial file, and files that belong together (a trajectory and its topology
PDB) appear together or not at all. Files get the permissions that ``open()`` would give them
(``0o666`` masked by the umask); :func:`tempfile.mkstemp` alone would leave them ``0600``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from neuralmd_core.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode() -> int:
    """The mode a newly created regular file gets: ``0o666`` minus the process umask."""
    return 0o666 & ~_umask()


def _temp_path(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    os.remove(tmp)  # some writers (mdtraj's) refuse an existing file; the name stays ours
    return Path(tmp)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Yield temporary paths for ``paths``; on success rename them onto the targets together.

    The caller writes each temporary path (same folder and extension as its target). When the
    block raises, every temporary file is removed and no target is touched. When it succeeds,
    the files are given the default permissions and renamed; if one rename fails, the targets
    already renamed are removed again, so the group appears together or not at all.

    Args:
        paths: the final output files; their folders must exist.

    Yields:
        One temporary path per target, in the same order.

    Raises:
        InputError: a target's folder does not exist, or a target is a directory.
    """
    targets = [Path(p) for p in paths]
    for p in targets:
        if not p.parent.is_dir():
            raise InputError(p, "output folder does not exist")
        if p.is_dir():
            raise InputError(p, "is a directory, expected a file name")
    temps: list[Path] = []
    try:
        temps = [_temp_path(p) for p in targets]
        yield temps
        mode = default_mode()
        for tmp in temps:
            if not tmp.exists():
                raise RuntimeError(f"writer did not create {tmp}")
            os.chmod(tmp, mode)
        done: list[Path] = []
        try:
            for tmp, target in zip(temps, targets, strict=True):
                os.replace(tmp, target)
                done.append(target)
        except OSError:
            for target in done:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """:func:`atomic_outputs` for one file: yield its temporary path."""
    with atomic_outputs([path]) as (tmp,):
        yield tmp
