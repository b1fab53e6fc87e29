"""``neuralmd info``: summarise a prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from neuralmd_cli import _output


def info(
    dataset: Path = typer.Argument(..., help="Prepared dataset (.h5)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Print the schema version, units and one row per trajectory."""
    from neuralmd_core.data.store import open_dataset
    from neuralmd_core.errors import InputError

    if fmt not in ("table", "json"):
        raise InputError("--format", f"unknown format {fmt!r} (use table or json)")
    with open_dataset(dataset) as ds:
        summary = ds.info()
    if fmt == "json":
        _output.echo_result(json.dumps(summary, indent=2))
        return
    rows = [{k: v for k, v in r.items() if k != "provenance"} for r in summary["trajectories"]]
    head = ", ".join(f"{k}={v}" for k, v in summary.items() if k not in ("units", "trajectories"))
    units = ", ".join(f"{k}: {v}" for k, v in summary["units"].items())
    _output.echo_result(f"# {head}\n# units: {units}\n" + _output.render(rows, "table"))


def register(app: typer.Typer) -> None:
    """Add ``info`` to the app."""
    app.command("info")(_output.handle_errors(info))
