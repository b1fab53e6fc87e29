"""Reading checkpoints: ``torch.load(weights_only=True)`` and the method they hold.

Loading lives in the dynamics layer so that rollout, evaluation and benchmark can rebuild a
trained method without importing training; writing (``save_checkpoint``) stays in
``training.checkpoint``. The checkpoint format is described there.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from neuralmd_core.dynamics.base import Method
from neuralmd_core.errors import InputError

FORMAT = "neuralmd-checkpoint"
FORMAT_VERSION = 1


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)``.

    Raises:
        InputError: missing file, a file that is not a neuralmd checkpoint, or one holding
            anything but tensors and plain values (e.g. a pickled object; it is NOT executed).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"global {found.group(1)}" if found else "unsafe pickle"
        raise InputError(
            path, f"refused to load: holds objects other than tensors and plain values ({what})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        # torch's weights-only unpickler raises any of these on garbage bytes
        raise InputError(path, f"not a readable torch checkpoint ({type(exc).__name__})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(path, "not a neuralmd checkpoint")
    if int(data.get("format_version", -1)) > FORMAT_VERSION:
        raise InputError(
            path, f"checkpoint format {data['format_version']} is newer than this neuralmd"
        )
    return data


def load_method(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Method, dict]:
    """Rebuild the trained method from a checkpoint.

    Args:
        path: ``best.pt`` or ``last.pt`` of a run directory.
        map_location: device for the weights.

    Returns:
        ``(method, meta)``: the method in eval mode with its weights loaded, and the checkpoint
        dict without ``state_dict`` and ``resume`` (keys ``method``, ``task``, ``splits``,
        ``snapshot_interval_ps``, ``config``, ``units``, ``versions``, ``seed``, ``epoch``...).

    Raises:
        InputError: unreadable/unsafe file or weights that do not fit the method.
    """
    from neuralmd_core.dynamics.registry import build_method

    data = load_checkpoint(path, map_location)
    try:
        method = build_method(data["method"], data["model_options"], data["method_options"])
        method.load_state_dict(data["state_dict"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise InputError(path, f"weights do not fit method {data.get('method')!r} ({exc})") from exc
    method.to(map_location).eval()
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "resume")}
    return method, meta
