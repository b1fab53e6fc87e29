"""`neuralmd rmsf`: sliding-window RMSF of the ligand, as a table, a CSV and a plot."""

from __future__ import annotations

from pathlib import Path

import typer

from neuralmd_cli._output import echo_result, handle_errors, render, setup_logging
from neuralmd_core.errors import InputError


@handle_errors
def rmsf(
    trajectories: list[Path] = typer.Argument(..., help="Trajectories (truth and predictions)."),
    top: list[Path] = typer.Option(
        None, "--top", help="Topology (once for all, or once per trajectory; default: TRAJ.pdb)."
    ),
    window: int = typer.Option(5, "--window", help="Snapshots per window."),
    stride: int = typer.Option(1, "--stride", help="Snapshots between window starts."),
    start: int = typer.Option(
        None, "--start", help="First window's snapshot (default: align the trajectories' tails)."
    ),
    labels: str = typer.Option(None, "--labels", help="Comma-separated curve labels."),
    ligand_resname: str = typer.Option(None, "--ligand-resname", help="Ligand residue name."),
    csv_path: Path = typer.Option(None, "--csv", help="Write the curves here (long format)."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG with one curve per trajectory."),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
) -> None:
    """Sliding-window RMSF of the ligand heavy atoms (Å) for each trajectory (docs/rmsf.md)."""
    from neuralmd_core.evaluation._files import write_csv
    from neuralmd_core.evaluation.rmsf import curves_table, plot_rmsf, rmsf_files

    setup_logging(verbose)
    if fmt not in ("table", "json", "csv"):
        raise InputError("--format", f"unknown format {fmt!r} (use table, json or csv)")
    for out in (csv_path, plot):
        if out is not None and not out.parent.is_dir():
            raise InputError(out, "output folder does not exist")
    names = None if labels is None else [s.strip() for s in labels.split(",")]
    curves = rmsf_files(trajectories, top or None, window, start, stride, names, ligand_resname)
    rows = curves_table(curves)
    if csv_path is not None:
        write_csv(csv_path, rows)
    if plot is not None:
        plot_rmsf(curves, plot)
    meta = {
        "window": window,
        "stride": stride,
        "top": [str(t) for t in top or []],
        "units": {"rmsf": "angstrom"},
    }
    echo_result(render(rows, fmt, meta=meta if fmt == "json" else None))


def register(app: typer.Typer) -> None:
    app.command("rmsf")(rmsf)
