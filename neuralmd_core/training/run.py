"""``train(...)``: the one entry point ``neuralmd train`` calls.

Run directory (``-o``)::

    config.yaml          the resolved config (every default filled in)
    splits.json          trajectory names per split (single: also the frame ranges)
    metrics.csv          one row per epoch: epoch, train_loss, val_mae_A, val_rmse_A, lr, time_s
    train.log            the log
    checkpoints/last.pt  weights + everything --resume needs
    checkpoints/best.pt  weights at the best validation MAE

Only the global rank-0 process writes; other DDP processes (Lightning's launcher or torchrun)
compute the same splits and train their share of every global batch. Every file is written to
a temporary name and renamed (``io._atomic``), with the default permissions.

Lightning's own messages (banners, tips, "GPU available", warnings) are kept off stderr unless
the log level is DEBUG (``-vv``); progress is one bar of ``neuralmd_core.progress``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from neuralmd_core.data.store import open_dataset
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.dynamics.base import Method
from neuralmd_core.dynamics.registry import build_method, method_class
from neuralmd_core.errors import ConfigError, InputError
from neuralmd_core.io._atomic import atomic_output
from neuralmd_core.progress import enabled as progress_enabled
from neuralmd_core.training.checkpoint import (
    load_checkpoint,
    plain,
    rng_state,
    save_checkpoint,
)
from neuralmd_core.training.config import TrainConfig, config_changes, config_to_dict, dump_config
from neuralmd_core.training.inputs import RUN_FILES, check_run_dir, is_main_process
from neuralmd_core.training.module import ProgressBar, TrainingModule, ValItem, validation_sums
from neuralmd_core.training.tasks import (
    SystemCache,
    WindowDataset,
    multi_split,
    read_split_file,
    single_split,
    single_windows,
)

log = logging.getLogger("neuralmd.train")

METRIC_COLUMNS = ("epoch", "train_loss", "val_mae_A", "val_rmse_A", "lr", "time_s")


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def _prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    busy = check_run_dir(out, resume, force)
    if resume:
        return
    for name in RUN_FILES if busy else ():
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)


class _Data:
    """Splits, training windows and validation items of one task on one dataset."""

    def __init__(self, path: Path, cfg: TrainConfig, known: int):
        self.ds = open_dataset(path)
        info = {row["name"]: row for row in self.ds.info()["trajectories"]}
        names = self.ds.names()
        if not names:
            raise InputError(path, "the dataset holds no trajectories")
        if cfg.task == "single":
            name = cfg.trajectory or names[0]
            if name not in info:
                raise InputError(path, f"no trajectory named {name!r} (have: {', '.join(names)})")
            window = known + (cfg.horizon or 1)
            split = single_split(
                name, info[name]["frames"], cfg.train_fraction, cfg.val_fraction, window
            )
            self.splits = split.as_dict()
            self.systems = SystemCache([name], lambda n: anchored(self.ds.load(n), split.fit))
            self.windows = single_windows(split, window)
            system = self.systems[0]
            (a, b), (c, d) = split.fit, split.val
            hist = replace(
                system, lig_pos=system.lig_pos[a:b], time_ps=system.time_ps[a:b], energy=None
            )
            self.val_items = [ValItem(hist, system.lig_pos[c:d])]
        else:
            if cfg.split_file:
                self.splits = read_split_file(cfg.split_file, names)
            else:
                self.splits = multi_split(names, cfg.split_fractions, cfg.seed)
            train = self.splits["train"]
            self.systems = SystemCache(train, lambda n: anchored(self.ds.load(n), (0, 1)))
            self.windows = [(i, 0, info[n]["frames"]) for i, n in enumerate(train)]
            if min(info[n]["frames"] for n in train + self.splits["val"]) < 2:
                raise InputError(path, "the multi task needs trajectories of at least 2 snapshots")
            self.val_items = [self._multi_val(n) for n in self.splits["val"]]
        used = sorted({*self.splits["train"], *self.splits["val"], *self.splits.get("test", [])})
        self.interval_ps = float(info[self.splits["train"][0]]["snapshot_interval_ps"])
        self.provenance = plain(
            {"path": str(path.resolve()), "size_bytes": path.stat().st_size,
             "trajectories": [info[n] for n in used]}
        )  # fmt: skip

    def _multi_val(self, name: str) -> ValItem:
        s = anchored(self.ds.load(name), (0, 1))
        return ValItem(
            replace(s, lig_pos=s.lig_pos[:1], time_ps=s.time_ps[:1], energy=None), s.lig_pos[1:]
        )


def anchored(system: BindingSystem, frames: tuple[int, int]) -> BindingSystem:
    """``system`` with its tether anchor (``keys.LIG_ANCHOR``) set to the mean pose over
    ``frames`` — what a rollout from that history will be tethered to: the training range's
    mean in the single task, snapshot 0 in the multi task."""
    a, b = frames
    return replace(system, lig_anchor=system.lig_pos[a:b].mean(0))


class _Recorder:
    """Writes metrics.csv, train.log and the checkpoints (rank 0) at the end of every epoch."""

    def __init__(self, out: Path, base_meta: dict[str, Any], rows=None, best=None, elapsed=0.0):
        self.out, self.base = out, base_meta
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.best = dict(best or {"epoch": None, "val_mae_A": None, "val_rmse_A": None})
        self.t0 = time.perf_counter() - elapsed
        self.main = is_main_process()

    def write_metrics(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in METRIC_COLUMNS})
        _write_text(self.out / "metrics.csv", buf.getvalue())

    def __call__(self, epoch: int, train_loss, val, method: Method, optim=None) -> None:
        lr = None if optim is None else float(optim.param_groups[0]["lr"])
        mae, rmse = (float(val[0]), float(val[1])) if val is not None else (None, None)
        row = {"epoch": epoch, "train_loss": train_loss, "val_mae_A": mae, "val_rmse_A": rmse,
               "lr": lr, "time_s": round(time.perf_counter() - self.t0, 3)}  # fmt: skip
        self.rows.append(row)
        improved = mae is not None and (
            self.best["val_mae_A"] is None or mae < self.best["val_mae_A"]
        )
        if improved:
            self.best = {"epoch": epoch, "val_mae_A": mae, "val_rmse_A": rmse}
        log.info("epoch %d: train_loss %s val_mae_A %s val_rmse_A %s", epoch, train_loss, mae, rmse)
        if not self.main:
            return
        meta = dict(self.base, epoch=epoch, best=dict(self.best))
        if improved:
            save_checkpoint(self.out / "checkpoints" / "best.pt", method, meta)
        resume = {"rows": self.rows, "rng": rng_state(), "elapsed_s": row["time_s"],
                  "optimizer": None if optim is None else optim.state_dict()}  # fmt: skip
        save_checkpoint(self.out / "checkpoints" / "last.pt", method, dict(meta, resume=resume))
        self.write_metrics()

    def lightning_hook(self, epoch: int, train_loss, val, module: TrainingModule) -> None:
        self(epoch, train_loss, val, module.method, module.trainer.optimizers[0])


def _build_method(cfg: TrainConfig, data: _Data) -> tuple[TrainConfig, Method]:
    fields = method_class(cfg.model).Options.model_fields
    if "snapshot_interval_ps" in fields and "snapshot_interval_ps" not in cfg.user_method_keys:
        cfg = cfg.with_method_option("snapshot_interval_ps", data.interval_ps)
    return cfg, build_method(cfg.model, cfg.network, cfg.method)


def _trainer_layout(cfg: TrainConfig) -> dict[str, Any]:
    """accelerator/devices/num_nodes/strategy, adopting a torchrun environment if present."""
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    devices, nodes = cfg.devices, cfg.num_nodes
    if "TORCHELASTIC_RUN_ID" in os.environ and devices * nodes == 1:
        devices = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        nodes = max(1, int(os.environ.get("WORLD_SIZE", "1")) // devices)
    distributed = devices * nodes > 1
    return {
        "accelerator": "gpu" if use_cuda else "cpu",
        "devices": devices,
        "num_nodes": nodes,
        "strategy": "ddp_find_unused_parameters_true" if distributed else "auto",
        "deterministic": (not use_cuda) if cfg.deterministic is None else cfg.deterministic,
    }


LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


@contextlib.contextmanager
def _run_log(out: Path) -> Iterator[None]:
    """``train.log`` gets the INFO log (rank 0); stderr keeps the level the CLI chose."""
    if not is_main_process():
        yield
        return
    root, neuralmd = logging.getLogger(), logging.getLogger("neuralmd")
    pinned = [(h, h.level) for h in root.handlers]
    for h, level in pinned:  # the stderr handler filters at the user's level, not at INFO
        h.setLevel(max(level, root.getEffectiveLevel()))
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    old_level = neuralmd.level
    for name in ("neuralmd", *LIGHTNING_LOGGERS[1:]):
        logging.getLogger(name).addHandler(handler)
    neuralmd.setLevel(min(logging.INFO, root.getEffectiveLevel()))
    try:
        yield
    finally:
        for name in ("neuralmd", *LIGHTNING_LOGGERS[1:]):
            logging.getLogger(name).removeHandler(handler)
        handler.close()
        neuralmd.setLevel(old_level)
        for h, level in pinned:
            h.setLevel(level)


@contextlib.contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Keep Lightning's banners, tips and warnings off stderr unless the log level is DEBUG.

    Its log records still reach ``train.log`` (the file handler sits on its loggers); only
    their way up to the stderr handler is cut, and its Python warnings are ignored.
    """
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    loggers = [logging.getLogger(n) for n in LIGHTNING_LOGGERS]
    saved = [lg.propagate for lg in loggers]
    null = logging.NullHandler()  # no "last resort" printing for loggers without a handler
    for lg in loggers:
        lg.propagate = False
        lg.addHandler(null)
    try:
        with warnings.catch_warnings():
            for module in (
                r"lightning(\..*)?",
                r"lightning_fabric(\..*)?",
                r"torch\.utils\.data.*",
            ):
                warnings.filterwarnings("ignore", module=module)
            warnings.filterwarnings("ignore", message=r".*(num_workers|LeafSpec|litlogger).*")
            yield
    finally:
        for lg, propagate in zip(loggers, saved):
            lg.propagate = propagate
            lg.removeHandler(null)


def _resume_state(out: Path, cfg: TrainConfig, data: _Data) -> dict[str, Any]:
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    changed = config_changes(ckpt["config"], config_to_dict(cfg))
    if changed:
        raise ConfigError(
            out / "config.yaml",
            f"--resume with a changed config ({', '.join(changed)}); only epochs may change",
        )
    if ckpt["splits"] != plain(data.splits):
        raise InputError(out, "--resume: the dataset gives different splits than the saved run")
    return ckpt


def train(
    dataset: str | Path,
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Train (or, for methods without parameters, just validate) and write the run directory.

    Args:
        dataset: a prepared dataset (``neuralmd prepare``).
        cfg: the resolved config (``config.load_config``).
        out_dir: the run directory; refused if non-empty unless ``resume`` or ``force``.
        resume: continue from ``checkpoints/last.pt`` (only ``epochs`` may change).
        force: delete an existing run's files first.

    Returns:
        Summary: ``run_dir``, ``checkpoint`` (best.pt), ``method``, ``task``, ``best_epoch``,
        ``val_mae_A``, ``val_rmse_A``, ``epochs``.
    """
    out, dataset = Path(out_dir), Path(dataset)
    cls = method_class(cfg.model)
    known = 2 if cfg.task == "single" else 1
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "cuda requested but no CUDA device is available")
    if is_main_process():
        check_run_dir(out, resume, force)
    with contextlib.ExitStack() as stack:
        data = _Data(dataset, cfg, known)
        stack.callback(data.ds.close)
        if is_main_process():
            _prepare_run_dir(out, resume, force)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        cfg, method = _build_method(cfg, data)
        ckpt = _resume_state(out, cfg, data) if resume else None
        stack.enter_context(_run_log(out))
        stack.enter_context(_lightning_quiet())
        recorder, start = _start(out, cfg, data, method, ckpt)
        if not cls.trainable or cfg.epochs == 0:
            _validate_only(cfg, method, data, recorder, start)
        elif start < cfg.epochs:
            resume_state = None if ckpt is None else ckpt["resume"]
            _fit(cfg, method, data, recorder, known, start, resume_state)
    return _summary(out, cfg, recorder)


def _start(
    out: Path, cfg: TrainConfig, data: _Data, method: Method, ckpt: dict | None
) -> tuple[_Recorder, int]:
    """Write config.yaml and splits.json; the recorder (restored on resume) and the first epoch."""
    if is_main_process():
        _write_text(out / "config.yaml", dump_config(cfg))
        _write_text(out / "splits.json", json.dumps(data.splits, indent=2) + "\n")
    base = {
        "config": config_to_dict(cfg), "task": cfg.task, "splits": plain(data.splits),
        "snapshot_interval_ps": data.interval_ps, "seed": cfg.seed, "dataset": data.provenance,
    }  # fmt: skip
    if ckpt is None:
        return _Recorder(out, base), 0
    method.load_state_dict(ckpt["state_dict"])
    res = ckpt["resume"]
    start = int(ckpt["epoch"])
    return _Recorder(out, base, res["rows"], ckpt["best"], res["elapsed_s"]), start


def _validate_only(
    cfg: TrainConfig, method: Method, data: _Data, recorder: _Recorder, start: int
) -> None:
    """Methods without parameters (or epochs=0): one validation, recorded as epoch 0."""
    if recorder.rows or not is_main_process():
        return
    sums = validation_sums(method, data.val_items, cfg.seed, cfg.val_samples, torch.device("cpu"))
    recorder(start, None, (sums[0] / sums[2], sums[1] / sums[2]), method)


def _fit(cfg, method, data, recorder, known, start, resume) -> None:
    layout = _trainer_layout(cfg)
    loss = cfg.loss or method.default_loss[cfg.task]
    dataset = WindowDataset(data.systems)
    module = TrainingModule(
        method, cfg, dataset, data.windows, data.val_items, known, loss,
        recorder.lightning_hook, start, resume,
    )  # fmt: skip
    trainer = pl.Trainer(
        **layout,
        max_epochs=cfg.epochs - start,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.grad_clip,
        callbacks=[ProgressBar(cfg.epochs, start)] if cfg.progress and progress_enabled() else [],
        use_distributed_sampler=False,
        default_root_dir=None,
    )
    trainer.fit(module)


def _summary(out: Path, cfg: TrainConfig, recorder: _Recorder) -> dict[str, Any]:
    best = recorder.best
    return {
        "run_dir": str(out),
        "checkpoint": str(out / "checkpoints" / "best.pt"),
        "method": cfg.model,
        "task": cfg.task,
        "best_epoch": best["epoch"],
        "val_mae_A": best["val_mae_A"],
        "val_rmse_A": best["val_rmse_A"],
        "epochs": recorder.rows[-1]["epoch"] if recorder.rows else 0,
    }
