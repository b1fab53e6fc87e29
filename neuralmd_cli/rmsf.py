"""`neuralmd rmsf`: sliding-window RMSF of the ligand, as a table, a CSV and a plot."""

from __future__ import annotations

from pathlib import Path

import typer

from neuralmd_cli._output import (
    echo_result,
    handle_errors,
    quiet_option,
    render,
    setup_logging,
    verbose_option,
)
from neuralmd_core.errors import InputError

_FORMATS = ("table", "json", "csv")


def _check_outputs(csv_path: Path | None, plot: Path | None, force: bool) -> None:
    """Refuse outputs that cannot be written (or exist, without --force) before any work."""
    from neuralmd_core.evaluation._files import check_output, check_plot_output

    if csv_path is not None:
        check_output(csv_path, force, "--csv")
    if plot is not None:
        check_plot_output(plot, force)
        if csv_path is not None and Path(csv_path).resolve() == Path(plot).resolve():
            raise InputError(plot, "--csv and --plot name the same file")


@handle_errors
def rmsf(
    trajectories: list[Path] = typer.Argument(
        ..., help="Trajectories (truth and predictions), any format mdtraj reads."
    ),
    top: list[Path] = typer.Option(
        None,
        "--top",
        help="Topology: once for all, or once per trajectory (default: TRAJ.pdb).",
        show_default=False,
    ),
    window: int = typer.Option(5, "--window", help="Snapshots per window (>= 2)."),
    stride: int = typer.Option(1, "--stride", help="Snapshots between window starts (>= 1)."),
    start: int = typer.Option(
        None,
        "--start",
        help="First window's frame (0-based) in every trajectory (default: by time).",
    ),
    labels: str = typer.Option(
        None, "--labels", help="Comma-separated curve labels, one per trajectory (default: paths)."
    ),
    ligand_resname: str = typer.Option(
        None,
        "--ligand-resname",
        help="Ligand residue name (default: the only non-protein residue).",
    ),
    csv_path: Path = typer.Option(None, "--csv", help="Write the curves to this CSV file."),
    plot: Path = typer.Option(
        None, "--plot", help="Figure, one curve per trajectory: .png .pdf .svg or .jpg."
    ),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing --csv / --plot."),
    fmt: str = typer.Option("table", "--format", help="Results on stdout: table | json | csv."),
    quiet: bool = quiet_option(),
    verbose: int = verbose_option(),
) -> None:
    """Sliding-window RMSF of the ligand heavy atoms, Å (docs/rmsf.md).

    Several trajectories are paired by time when every file carries frame
    times (each curve covers the time span all of them cover), else aligned
    at their tails; stderr says which frames were used. Times in ps.
    """
    from neuralmd_core.evaluation._files import write_csv
    from neuralmd_core.evaluation.rmsf import curves_table, plot_rmsf, rmsf_files

    setup_logging(verbose, quiet)
    if fmt not in _FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use table, json or csv)")
    _check_outputs(csv_path, plot, force)
    names = None if labels is None else [s.strip() for s in labels.split(",")]
    curves = rmsf_files(trajectories, top or None, window, start, stride, names, ligand_resname)
    rows = curves_table(curves)
    if plot is not None:
        plot_rmsf(curves, plot)
    if csv_path is not None:
        write_csv(csv_path, rows)
    meta = {
        "window": window,
        "stride": stride,
        "top": [str(t) for t in top or []],
        "units": {"rmsf": "angstrom", "time": "ps"},
    }
    echo_result(render(rows, fmt, meta=meta if fmt == "json" else None))


def register(app: typer.Typer) -> None:
    app.command("rmsf")(rmsf)
