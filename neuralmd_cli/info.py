"""``neuralmd info``: summarise a prepared dataset, or a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from neuralmd_cli import _output

FORMATS = ("table", "json")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def _checkpoint_summary(path: Path) -> dict[str, Any]:
    """What a checkpoint holds, after checking that its weights fit its method."""
    from neuralmd_core.dynamics.checkpoint import load_method

    method, meta = load_method(path, map_location="cpu")
    best = meta.get("best") or {}
    splits = meta.get("splits") or {}
    return {
        "path": str(path),
        "method": meta["method"],
        "task": meta.get("task"),
        "epoch": meta.get("epoch"),
        "best_epoch": best.get("epoch"),
        "val_mae_A": best.get("val_mae_A"),
        "snapshot_interval_ps": meta.get("snapshot_interval_ps"),
        "parameters": sum(p.numel() for p in method.parameters()),
        "train": ",".join(map(str, splits.get("train", []))) or None,
        "neuralmd": (meta.get("versions") or {}).get("neuralmd"),
        "network": meta.get("model_options"),
        "method_options": meta.get("method_options"),
    }


def _render_checkpoint(summary: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(summary, indent=2, default=str)
    rows = [
        {"key": k, "value": v}
        for k, v in summary.items()
        if not isinstance(v, dict)  # the option dicts: JSON only
    ]
    return _output.render(rows, "table")


def _render_dataset(summary: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(summary, indent=2)
    rows = [{k: v for k, v in r.items() if k != "provenance"} for r in summary["trajectories"]]
    head = ", ".join(
        f"{k}={_output.MISSING if v is None else v}"
        for k, v in summary.items()
        if k not in ("units", "trajectories")
    )
    units = ", ".join(f"{k}: {v}" for k, v in summary["units"].items())
    return f"# {head}\n# units: {units}\n" + _output.render(rows, "table")


def info(
    path: Path = typer.Argument(
        ..., help="Prepared dataset (.h5) or checkpoint (.pt) to summarise."
    ),
    fmt: str = typer.Option("table", "--format", help="Output on stdout: table or json."),
    quiet: bool = _output.quiet_option(),
    verbose: int = _output.verbose_option(),
) -> None:
    """Print a dataset's schema version, units (Å, ps, amu, kcal/mol) and one row per trajectory,
    or a checkpoint's method, task, best epoch, validation MAE (Å) and snapshot interval (ps)."""
    from neuralmd_core.errors import InputError

    _output.setup_logging(verbose, quiet)
    if fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use table or json)")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        _output.echo_result(_render_checkpoint(_checkpoint_summary(path), fmt))
        return
    from neuralmd_core.data.store import open_dataset

    with open_dataset(path) as ds:
        summary = ds.info()
    _output.echo_result(_render_dataset(summary, fmt))


def register(app: typer.Typer) -> None:
    """Add ``info`` to the app."""
    app.command("info")(_output.handle_errors(info))
