"""Reading checkpoints: ``torch.load(weights_only=True)`` and the method they hold.

Loading lives in the dynamics layer so that rollout, evaluation and benchmark can rebuild a
trained method without importing training; writing (``save_checkpoint``) stays in
``training.checkpoint``. The checkpoint format is described there.

Every way a file can fail to be a checkpoint gives one :class:`InputError` in our words:
``not a neuralmd checkpoint: <reason>`` (empty, truncated, not a torch file, no neuralmd
metadata, pickled objects refused unexecuted), or ``weights do not match ...`` when the weights
and the method/network recorded beside them disagree.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from neuralmd_core.dynamics.base import Method
from neuralmd_core.errors import InputError

FORMAT = "neuralmd-checkpoint"
FORMAT_VERSION = 1
NOT_CHECKPOINT = "not a neuralmd checkpoint"
_ZIP_MAGIC = b"PK\x03\x04"


def _refuse(path: Path, reason: str) -> InputError:
    return InputError(path, f"{NOT_CHECKPOINT}: {reason}")


def _check_container(path: Path) -> None:
    """Reject what is visibly not a torch zip checkpoint before unpickling anything."""
    if not path.exists():
        raise InputError(path, "checkpoint not found")
    if path.is_dir():
        raise InputError(path, "is a directory, expected a checkpoint file (.pt)")
    size = path.stat().st_size
    if size == 0:
        raise _refuse(path, "the file is empty")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != _ZIP_MAGIC:
        return  # not torch's zip format: torch.load decides (legacy torch files still load)
    if not zipfile.is_zipfile(path):
        raise _refuse(path, f"truncated or corrupt torch file ({size} bytes)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(path, "truncated or corrupt torch file") from exc
    if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        raise _refuse(path, "a zip archive, not a torch file")


def _torch_load(path: Path, map_location: str | torch.device) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4" on foreign files
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise _refuse(path, "not a torch file") from exc
        raise _refuse(
            path,
            "refused to load: holds objects other than tensors and plain values "
            f"(global {found.group(1)}); nothing was executed",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        # torch's unpickler raises any of these on garbage bytes or a damaged archive
        raise _refuse(path, "not a torch file") from exc


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)``.

    Args:
        path: a ``.pt`` file written by ``neuralmd train`` (``save_checkpoint``).
        map_location: device for the tensors.

    Returns:
        The checkpoint dict (see ``training.checkpoint``).

    Raises:
        InputError: a missing file, a directory, or ``not a neuralmd checkpoint: REASON`` for an
            empty, truncated or foreign file, one without neuralmd metadata, or one holding
            anything but tensors and plain values (e.g. a pickled object; it is NOT executed).
    """
    path = Path(path)
    _check_container(path)
    data = _torch_load(path, map_location)
    if not isinstance(data, dict):
        raise _refuse(path, f"no neuralmd metadata (holds a {type(data).__name__})")
    if data.get("format") != FORMAT:
        raise _refuse(path, "no neuralmd metadata (a torch file saved by something else)")
    try:
        version = int(data.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version > FORMAT_VERSION:
        raise InputError(path, f"checkpoint format {version} is newer than this neuralmd")
    missing = [
        k for k in ("method", "method_options", "model_options", "state_dict") if k not in data
    ]
    if missing:
        raise _refuse(path, f"neuralmd metadata without {', '.join(missing)}")
    return data


def _config_conflict(data: Mapping[str, Any]) -> str | None:
    """What the recorded training config says differently from the stored method, if anything."""
    config = data.get("config")
    if not isinstance(config, Mapping):
        return None
    model = config.get("model")
    if model is not None and model != data["method"]:
        return f"its config says method {model!r}, the weights are {data['method']!r}"
    network, options = config.get("network"), data["model_options"]
    if isinstance(network, Mapping) and isinstance(options, Mapping):
        differ = sorted(k for k in network if k in options and network[k] != options[k])
        if differ:
            k = differ[0]
            return f"its config says network {k}={network[k]!r}, the weights have {options[k]!r}"
    return None


def _state_dict_problem(exc: RuntimeError) -> str:
    """One short clause out of torch's many-line ``load_state_dict`` message."""
    text = str(exc)
    shapes = re.findall(r"size mismatch for ([\w.]+): copying a param with shape (torch\.Size\(\[[^\]]*\]\)) "
                        r"from checkpoint, the shape in current model is (torch\.Size\(\[[^\]]*\]\))", text)  # fmt: skip
    missing = re.search(r'Missing key\(s\) in state_dict: ((?:"[^"]*"(?:, )?)+)', text)
    extra = re.search(r'Unexpected key\(s\) in state_dict: ((?:"[^"]*"(?:, )?)+)', text)
    parts = []
    if shapes:
        name, got, want = shapes[0]
        got, want = (s.removeprefix("torch.Size(").removesuffix(")") for s in (got, want))
        parts.append(f"{len(shapes)} tensors of another shape, e.g. {name} {got} vs {want}")
    for label, found in (("missing", missing), ("unexpected", extra)):
        if found:
            parts.append(f"{found.group(1).count(chr(34)) // 2} {label} tensors")
    return "; ".join(parts) or type(exc).__name__


def _with_stored_defaults(data: dict) -> Any:
    """The checkpoint's method options, with the method's ``stored_defaults`` for keys it lacks
    (options added since it was written keep the value it was trained with)."""
    from neuralmd_core.dynamics.registry import method_class
    from neuralmd_core.errors import NeuralMDError

    opts = data["method_options"]
    try:
        defaults = method_class(data["method"]).Options.stored_defaults
    except NeuralMDError:  # unknown method: build_method says so in its own words
        return opts
    if not isinstance(opts, dict):
        return opts
    return {**defaults, **opts}


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
        InputError: unreadable/unsafe file (see :func:`load_checkpoint`), or one line
            ``weights do not match ...`` when the weights do not fit the method and network
            recorded in the checkpoint (e.g. relabelled as another method, resized network).
    """
    from pydantic import ValidationError

    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.errors import NeuralMDError

    path = Path(path)
    data = load_checkpoint(path, map_location)
    name = data["method"]
    conflict = _config_conflict(data)
    if conflict:
        raise InputError(path, f"weights do not match the checkpoint's record: {conflict}")
    try:
        method = build_method(name, data["model_options"], _with_stored_defaults(data))
    except ValidationError as exc:
        keys = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
        raise InputError(
            path, f"weights do not match the method recorded in the checkpoint ({name!r} does "
            f"not take its stored options: {shown})",
        ) from exc  # fmt: skip
    except NeuralMDError as exc:
        raise InputError(path, f"{NOT_CHECKPOINT}: {getattr(exc, 'problem', exc)}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(
            path, f"weights do not match the method recorded in the checkpoint ({name!r}: "
            f"{type(exc).__name__})",
        ) from exc  # fmt: skip
    try:
        method.load_state_dict(data["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        problem = _state_dict_problem(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
        raise InputError(
            path, f"weights do not match the method {name!r} and network recorded in the "
            f"checkpoint ({problem})",
        ) from exc  # fmt: skip
    method.to(map_location).eval()
    meta = {k: v for k, v in data.items() if k not in ("state_dict", "resume")}
    return method, meta
