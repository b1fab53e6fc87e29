"""The one place where ``--model NAME`` is resolved to a method class."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from neuralmd_core.dynamics.base import Method
from neuralmd_core.errors import ConfigError

# name -> "module:Class" (imported lazily so a missing optional piece does not break the rest)
_METHODS: dict[str, str] = {
    "neuralmd-ode": "neuralmd_core.dynamics.neuralmd_ode:NeuralMDODE",
    "neuralmd-sde": "neuralmd_core.dynamics.neuralmd_sde:NeuralMDSDE",
    "gnn-md": "neuralmd_core.dynamics.gnn_md:GNNMD",
    "verlet-md": "neuralmd_core.dynamics.verlet_md:VerletMD",
    "denoising-ld": "neuralmd_core.dynamics.denoising_ld:DenoisingLD",
    "static": "neuralmd_core.dynamics.reference:StaticPose",
    "mean-pose": "neuralmd_core.dynamics.reference:MeanPose",
}

METHOD_NAMES: tuple[str, ...] = tuple(_METHODS)
REFERENCE_METHODS: tuple[str, ...] = ("static", "mean-pose")


def method_class(name: str) -> type[Method]:
    """Return the class registered under ``name``; ``ConfigError`` if unknown."""
    if name not in _METHODS:
        raise ConfigError("--model", f"unknown method {name!r}; choose from {', '.join(_METHODS)}")
    module, cls = _METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_method(
    name: str, model_options: Mapping[str, Any] | None = None, options: Any = None
) -> Method:
    """Instantiate the method ``name`` with BindingNet options and its own options."""
    return method_class(name)(model_options=model_options, options=options)
