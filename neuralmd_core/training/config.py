"""The training configuration: a pydantic schema, read from YAML, written back resolved.

A config file holds any subset of the fields of :class:`TrainConfig`; command-line flags
override the file; every unknown key is an error. ``network:`` is validated by
``models.BindingNetOptions`` and ``method:`` by the chosen method's ``Options``, so the resolved
config (``config.yaml`` in the run directory) lists every hyper-parameter with its value.

An error names the flag when the bad value came from the command line (``--lr: Input should
be greater than 0 (got -1.0)``) and the file otherwise. :func:`check_settings` validates without
importing torch, so ``neuralmd train`` refuses bad settings before its heavy imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from neuralmd_core.errors import ConfigError, InputError

#: keys that may differ between a run and its ``--resume`` (they do not change the science)
RESUMABLE_KEYS = ("epochs", "device", "devices", "num_nodes", "num_workers", "progress")


class TrainConfig(pydantic.BaseModel):
    """Every setting of ``neuralmd train``.

    Attributes:
        model: method name (``--model``), see ``dynamics.registry.METHOD_NAMES``.
        task: ``"single"`` (one trajectory, split in time) or ``"multi"`` (split by trajectory).
        trajectory: single task: the trajectory name (default: the dataset's first).
        split_file: multi task: JSON ``{"train": [...], "val": [...], "test": [...]}``.
        seed: seeds splits, sampling, initialisation and noise.
        epochs: passes over the training windows.
        batch_size: GLOBAL windows (single) / trajectories (multi) per optimiser step, split
            evenly over DDP processes; default 1 (single, the paper) or 32 (multi).
        horizon: single: frames predicted per training window (default 1); multi: the largest
            random end frame ``e`` (default: last frame).
        train_fraction: single: leading fraction of snapshots used for training (rest = test).
        val_fraction: single: trailing fraction of the training range held out for validation.
        split_fractions: multi: train/val/test fractions of the trajectories.
        loss: ``"l1"`` or ``"mse"``; default: the method's ``default_loss[task]``.
        optimizer, lr, weight_decay, grad_clip, scheduler: the optimiser (Adam, 1e-4, 0, off,
            constant by default; ``"cosine"`` anneals to 0 over ``epochs``).
        eval_every: validate every this many epochs (and always after the last).
        val_samples: rollouts per validation trajectory (stochastic methods).
        shuffle: shuffle training windows/trajectories each epoch (seeded).
        device: ``auto``, ``cpu`` or ``cuda``; devices, num_nodes: DDP processes per node, nodes.
        deterministic: deterministic algorithms (default: on for CPU, off for CUDA).
        num_workers: DataLoader workers.
        progress: tqdm progress bar on stderr.
        network: BindingNet options (``models.BindingNetOptions``).
        method: the method's own options (``method_class(model).Options``).
    """

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = "neuralmd-ode"
    task: Literal["single", "multi"] = "single"
    trajectory: str | None = None
    split_file: str | None = None
    seed: int = pydantic.Field(0, ge=0, le=2**32 - 1)
    epochs: int = pydantic.Field(32, ge=0)
    batch_size: int | None = pydantic.Field(None, ge=1)
    horizon: int | None = pydantic.Field(None, ge=1)
    train_fraction: float = pydantic.Field(0.8, gt=0.0, lt=1.0)
    val_fraction: float = pydantic.Field(0.1, gt=0.0, lt=1.0)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    loss: Literal["l1", "mse"] | None = None
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = pydantic.Field(1e-4, gt=0.0)
    weight_decay: float = pydantic.Field(0.0, ge=0.0)
    grad_clip: float | None = pydantic.Field(None, gt=0.0)
    scheduler: Literal["none", "cosine"] = "none"
    eval_every: int = pydantic.Field(1, ge=1)
    val_samples: int = pydantic.Field(1, ge=1)
    shuffle: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    devices: int = pydantic.Field(1, ge=1)
    num_nodes: int = pydantic.Field(1, ge=1)
    deterministic: bool | None = None
    num_workers: int = pydantic.Field(0, ge=0)
    progress: bool = True
    network: dict[str, Any] = pydantic.Field(default_factory=dict)
    method: dict[str, Any] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("split_fractions")
    @classmethod
    def _fractions_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) < 0 or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError("split_fractions must be three non-negative numbers summing to 1")
        return v

    _user_method_keys: frozenset[str] = pydantic.PrivateAttr(default_factory=frozenset)

    @property
    def user_method_keys(self) -> frozenset[str]:
        """Method options the user set (file or flags); the rest may come from the data."""
        return self._user_method_keys

    def with_method_option(self, key: str, value: Any) -> TrainConfig:
        """A copy with one method option set (e.g. ``snapshot_interval_ps`` from the data)."""
        return self.model_copy(update={"method": {**self.method, key: value}})

    @property
    def global_batch_size(self) -> int:
        """Resolved global batch size (1 for single, 32 for multi unless set)."""
        return self.batch_size or (1 if self.task == "single" else 32)


#: flags whose name is not ``--`` + the key with dashes
_FLAGS = {"method.adjoint": "--adjoint"}


def _flag(loc: tuple, overrides: Mapping[str, Any]) -> str | None:
    """The command-line flag that set the value at ``loc``, or None when the file did."""
    if not loc:
        return None
    top = str(loc[0])
    if top in ("method", "network") and len(loc) > 1:
        section = overrides.get(top)
        if isinstance(section, Mapping) and section.get(loc[1]) is not None:
            return _FLAGS.get(f"{top}.{loc[1]}", f"--{str(loc[1]).replace('_', '-')}")
        return None
    if overrides.get(top) is not None:
        return _FLAGS.get(top, f"--{top.replace('_', '-')}")
    return None


def _config_error(
    exc: pydantic.ValidationError, source: str, overrides: Mapping[str, Any], prefix: str = ""
) -> ConfigError:
    """One line for the first error: the flag or file at fault, the key and the problem."""
    err = exc.errors()[0]
    loc = tuple(p for p in (prefix, *err["loc"]) if p != "")
    key = ".".join(str(p) for p in loc)
    flag = _flag(loc, overrides)
    if err["type"] == "extra_forbidden":
        problem = f"unknown key {key!r}"
        if flag:
            problem = f"the method takes no such option ({problem})"
    else:
        got = (
            f" (got {err['input']!r})"
            if "input" in err and not isinstance(err["input"], dict)
            else ""
        )
        problem = (
            f"{err['msg']}{got}" if flag else (f"{key}: {err['msg']}{got}" if key else err["msg"])
        )
    return ConfigError(flag or source, problem)


def _resolve_sections(
    cfg: TrainConfig, source: str, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Validate ``network``/``method`` with their own schemas and fill in every default."""
    from neuralmd_core.dynamics.registry import method_class

    overrides = overrides or {}
    try:
        cls = method_class(cfg.model)
    except ImportError as exc:
        raise ConfigError("--model", f"method {cfg.model!r} is not available ({exc})") from exc
    try:
        from neuralmd_core.models import BindingNetOptions

        network = BindingNetOptions(**cfg.network).model_dump(mode="json")
    except ImportError:  # the models layer not importable: keep what the user gave
        network = dict(cfg.network)
    except pydantic.ValidationError as exc:
        raise _config_error(exc, source, overrides, "network") from exc
    except TypeError as exc:  # e.g. ``network: {1: 2}`` (keys that are not names)
        raise ConfigError(source, f"network: {exc}") from exc
    try:
        method = cls.Options(**cfg.method).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        raise _config_error(exc, source, overrides, "method") from exc
    except TypeError as exc:
        raise ConfigError(source, f"method: {exc}") from exc
    return cfg.model_copy(update={"network": network, "method": method})


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of keys to values.

    Raises:
        InputError: the file is missing, a directory or empty (0 bytes).
        ConfigError: not a text file, not valid YAML, or not a mapping with string keys.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "config file not found")
    if path.is_dir():
        raise InputError(path, "is a directory, expected a YAML config file")
    if path.stat().st_size == 0:
        raise InputError(path, "config file is empty")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "not a YAML text file (binary content)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "a config file must be a YAML mapping of keys to values")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(path, f"keys must be names, got {bad[0]!r}")
    return data


def _recipe(model: Any) -> dict[str, Any]:
    """The method's own training defaults (``Method.recipe``), which the file and flags override."""
    from neuralmd_core.dynamics.registry import METHOD_NAMES, method_class

    if not isinstance(model, str) or model not in METHOD_NAMES:
        return {}
    try:
        return dict(getattr(method_class(model), "recipe", {}) or {})
    except ImportError:
        return {}


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Build the resolved config: defaults < the method's ``recipe`` < YAML file < ``overrides``
    (CLI flags; ``None`` = unset).

    Args:
        path: optional YAML file.
        overrides: values from the command line; ``None`` values are ignored, nested mappings
            (``network``, ``method``) are merged key by key.

    Returns:
        The validated :class:`TrainConfig`, with ``network`` and ``method`` fully resolved.

    Raises:
        ConfigError: unknown key, wrong type or value (one line naming the key).
    """
    overrides = overrides or {}
    data = _merge(read_yaml(path) if path is not None else {}, overrides)
    source = str(path) if path is not None else "config"
    data = _merge(_recipe(data.get("model", TrainConfig.model_fields["model"].default)), data)
    cfg = _validated(data, source, overrides)
    cfg._user_method_keys = frozenset(cfg.method)
    return _resolve_sections(cfg, source, overrides)


def _validated(data: Mapping[str, Any], source: str, overrides: Mapping[str, Any]) -> TrainConfig:
    try:
        return TrainConfig(**data)
    except pydantic.ValidationError as exc:
        raise _config_error(exc, source, overrides) from exc


def check_settings(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> None:
    """Validate the file and the flags against :class:`TrainConfig` without importing torch.

    The method's recipe and the ``network``/``method`` sections are checked later by
    :func:`load_config` (they need the method classes); this catches missing or malformed
    files, unknown keys, wrong types and out-of-range values, naming the flag or the file.

    Raises:
        ConfigError, InputError: as :func:`load_config`.
    """
    overrides = overrides or {}
    data = _merge(read_yaml(path) if path is not None else {}, overrides)
    _validated(data, str(path) if path is not None else "config", overrides)


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain JSON-compatible dict of the resolved config."""
    return cfg.model_dump(mode="json")


def dump_config(cfg: TrainConfig) -> str:
    """The resolved config as YAML text (what ``config.yaml`` in the run directory holds)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ between two resolved configs, except ``RESUMABLE_KEYS``."""
    keys = sorted(set(old) | set(new))
    return [k for k in keys if k not in RESUMABLE_KEYS and old.get(k) != new.get(k)]
