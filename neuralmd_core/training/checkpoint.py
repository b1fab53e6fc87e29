"""Checkpoints: plain dicts of tensors and JSON-like values, loaded with ``weights_only=True``.

A checkpoint is a dict with these keys (no pickled classes, so ``torch.load(...,
weights_only=True)`` reads it and a file carrying a pickle payload is refused unexecuted):

``format`` ("neuralmd-checkpoint"), ``format_version``, ``method`` (name), ``method_options``,
``model_options``, ``state_dict``, ``config`` (the resolved training config), ``task``,
``splits``, ``snapshot_interval_ps``, ``units`` (``keys.UNITS``), ``versions``, ``seed``,
``epoch``, ``best`` (``{"epoch", "val_mae_A"}``), ``dataset`` (provenance) and, in
``last.pt`` only, ``resume`` (optimizer/scheduler state, RNG states, best value).
"""

from __future__ import annotations

import json
import platform
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralmd_core import __version__, keys
from neuralmd_core.dynamics.base import Method
from neuralmd_core.dynamics.checkpoint import (  # noqa: F401  (re-exported)
    FORMAT,
    FORMAT_VERSION,
    load_checkpoint,
    load_method,
)
from neuralmd_core.io._atomic import atomic_output


def plain(value: Any) -> Any:
    """A JSON round trip: numpy scalars/arrays, tuples and paths become plain Python values."""
    return json.loads(
        json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


def versions() -> dict[str, str]:
    """Versions of neuralmd and the libraries that shape a trained model."""
    out = {"neuralmd": __version__, "torch": str(torch.__version__)}
    out["python"] = platform.python_version()
    for name in ("lightning", "torchdiffeq", "torchsde"):
        try:
            out[name] = str(__import__(name).__version__)
        except (ImportError, AttributeError):
            out[name] = "unavailable"
    return out


def rng_state() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch CPU and CUDA) as tensors and lists."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, method: Method, meta: Mapping[str, Any]) -> None:
    """Write ``method``'s weights and ``meta`` atomically (temp file, then rename).

    The file appears complete or not at all, with the permissions ``open()`` would give it
    (``0o666`` minus the umask), never a partial ``.pt``.

    Args:
        path: destination (``.pt``).
        method: the method; its ``name``, options, BindingNet options and ``state_dict``
            (moved to CPU) are stored.
        meta: the other keys (config, task, splits, snapshot_interval_ps, seed, epoch, best,
            dataset, resume...): plain values and tensors only.
    """
    path = Path(path)
    payload = dict(meta)
    payload.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        method=method.name,
        method_options=method.options.model_dump(mode="json"),
        model_options=plain(method.model_options),
        state_dict={k: v.detach().cpu() for k, v in method.state_dict().items()},
        units=dict(keys.UNITS),
        versions=versions(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
