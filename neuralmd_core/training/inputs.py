"""What ``neuralmd train`` checks before it imports torch and Lightning (seconds of start-up).

A missing dataset, a malformed config, a bad flag or an occupied run directory is reported at
once, in one line, and nothing is written. :func:`neuralmd_core.training.run.train` repeats the
run-directory check (it is the library entry point) with the same function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuralmd_core.data.store import open_dataset
from neuralmd_core.errors import InputError
from neuralmd_core.io._files import check_file
from neuralmd_core.training.config import check_settings

#: what a run directory holds (``--force`` deletes these and nothing else)
RUN_FILES = ("config.yaml", "splits.json", "metrics.csv", "train.log", "checkpoints")


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a DDP job (Lightning children or torchrun)."""
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def check_run_dir(out: Path, resume: bool, force: bool) -> bool:
    """Whether ``out`` may be used as the run directory; ``True`` when it has files already.

    Raises:
        InputError: ``out`` is a file, ``--resume`` without ``checkpoints/last.pt``, a
            non-empty directory without ``--resume``/``--force``, or both flags together.
    """
    out = Path(out)
    if resume and force:
        raise InputError("--resume", "--resume and --force exclude each other")
    if out.exists() and not out.is_dir():
        raise InputError(out, "the run directory (-o) is a file")
    busy = out.is_dir() and any(out.iterdir())
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise InputError(out, "nothing to resume: checkpoints/last.pt not found")
        return busy
    if busy and not force:
        raise InputError(out, "run directory is not empty (use --resume to continue or --force)")
    return busy


def check_train_inputs(
    dataset: str | Path,
    out: str | Path,
    config: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
) -> None:
    """Check every input of a training run cheaply (h5py, YAML and pydantic only).

    Args:
        dataset: the prepared dataset (``.h5``): it must open as one and hold trajectories.
        out: the run directory (``-o``).
        config: the YAML config file, if any.
        overrides: the command-line settings (``None`` = unset), as for ``load_config``.
        resume, force: the run-directory flags.

    Raises:
        InputError, ConfigError: one line naming the file or flag at fault.
    """
    dataset, out = Path(dataset), Path(out)
    with open_dataset(dataset) as ds:
        if not ds.names():
            raise InputError(dataset, "the dataset holds no trajectories")
    check_settings(config, overrides)
    split_file = (overrides or {}).get("split_file")
    if split_file is not None:
        check_file(split_file)
    if out.resolve() == dataset.resolve():
        raise InputError(out, "the run directory (-o) is the dataset itself")
    if is_main_process():  # DDP children start after rank 0 has created the run directory
        check_run_dir(out, resume, force)
