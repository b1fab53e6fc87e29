"""`neuralmd evaluate`: the paper's metrics on trajectory files or on a dataset's test split."""

from __future__ import annotations

import math
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
_SPLITS = ("train", "val", "test")


def _clean(rows: list[dict]) -> list[dict]:
    """NaN (e.g. bond deviation of a ligand without bonds) → None, so JSON stays valid."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]


def _check_options(fmt: str, split: str, start, threshold: float, samples: int, snapshots: int):
    """Refuse out-of-range options before any file is read."""
    if fmt not in _FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use table, json or csv)")
    if split not in _SPLITS:
        raise InputError("--split", f"unknown split {split!r} (use train, val or test)")
    if start is not None and start < 0:
        raise InputError("--start", f"must be a frame index >= 0 (got {start})")
    if not (math.isfinite(threshold) and threshold > 0):
        raise InputError("--stability-threshold", f"must be a distance > 0 Å (got {threshold})")
    if samples < 1:
        raise InputError("--samples", f"must be at least 1 (got {samples})")
    if snapshots < 1:
        raise InputError("--snapshots", f"must be at least 1 (got {snapshots})")


def _check_outputs(plot: Path | None, per_snapshot: Path | None, force: bool) -> None:
    """Refuse outputs that cannot be written (or exist, without --force) before any work."""
    from neuralmd_core.evaluation._files import check_output, check_plot_output

    if plot is not None:
        check_plot_output(plot, force)
    if per_snapshot is not None:
        check_output(per_snapshot, force, "--per-snapshot")
        if plot is not None and Path(plot).resolve() == Path(per_snapshot).resolve():
            raise InputError(per_snapshot, "--per-snapshot and --plot name the same file")


@handle_errors
def evaluate(
    pred: list[Path] = typer.Argument(
        None, help="Predicted trajectories (file mode; one result row each).", show_default=False
    ),
    ref: Path = typer.Option(None, "--ref", help="Reference (ground-truth) trajectory."),
    top: Path = typer.Option(
        None, "--top", help="Topology of --ref, and of PRED unless PRED has its own TRAJ.pdb."
    ),
    pred_top: Path = typer.Option(None, "--pred-top", help="Topology of PRED, used as named."),
    ligand_resname: str = typer.Option(
        None,
        "--ligand-resname",
        help="Ligand residue name (default: the only non-protein residue).",
    ),
    start: int = typer.Option(
        None,
        "--start",
        help="Reference frame (0-based) paired with PRED's frame 0 (default: by time).",
    ),
    model: list[Path] = typer.Option(
        None, "--model", help="Checkpoint .pt (dataset mode; repeatable).", show_default=False
    ),
    data: Path = typer.Option(None, "--data", help="Prepared dataset .h5 (dataset mode)."),
    split: str = typer.Option("test", "--split", help="train | val | test (dataset mode)."),
    write_predictions: Path = typer.Option(
        None, "--write-predictions", help="Folder for the predicted trajectories (dataset mode)."
    ),
    metrics: str = typer.Option(
        "mae,rmse,matching,stability,rmsd,bonds,clashes",
        "--metrics",
        help="Comma-separated metric names (default: all paired ones); 'realism' adds the "
        "MD-likeness group. Names: docs/evaluate.md.",
        show_default=False,
    ),
    snapshots: int = typer.Option(
        200,
        "--snapshots",
        help="Dataset-mode realism rollout: snapshots of the model's interval (ps each) "
        "after the last known one.",
    ),
    plot: Path = typer.Option(
        None, "--plot", help="Realism figure: .png .pdf .svg or .jpg (needs a realism metric)."
    ),
    stability_threshold: float = typer.Option(
        0.5, "--stability-threshold", help="Stability tolerance, Å (> 0)."
    ),
    fmt: str = typer.Option("table", "--format", help="Results on stdout: table | json | csv."),
    per_snapshot: Path = typer.Option(
        None, "--per-snapshot", help="Also write per-snapshot values to this CSV file."
    ),
    force: bool = typer.Option(
        False, "-f", "--force", help="Overwrite existing --plot / --per-snapshot files."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Random seed of stochastic methods (dataset mode; same seed, same run)."
    ),
    samples: int = typer.Option(
        1,
        "--samples",
        help="Trajectories per stochastic method (dataset mode, >= 1): sample 0 and the mean "
        "of K are scored.",
    ),
    quiet: bool = quiet_option(),
    verbose: int = verbose_option(),
) -> None:
    """Score predicted ligand trajectories (docs/evaluate.md). Å and ps.

    File mode: PRED... --ref REF --top TOP. Predicted frames are paired
    with reference frames by time when both files carry times (else PRED
    covers REF's tail); stderr says which frames were paired.

    Dataset mode: --model CKPT [--model ...] --data DATA.h5; the static and
    mean-pose reference predictors are scored beside each model.

    --metrics realism: is PRED MD-like? No frame pairing; each value sits
    beside its replica floor (floor_* columns).
    """
    setup_logging(verbose, quiet)
    _check_options(fmt, split, start, stability_threshold, samples, snapshots)
    from neuralmd_core.evaluation.realism import split_metrics

    try:
        paired, real = split_metrics(metrics)
        names = paired + real
    except ValueError as exc:
        raise InputError("--metrics", str(exc)) from exc
    _check_outputs(plot, per_snapshot, force)
    if model:
        if data is None or pred:
            raise InputError(
                "--model", "dataset mode takes --model CKPT --data DATA.h5 and no PRED"
            )
        from neuralmd_core.evaluation import dataset_mode as D

        report = D.evaluate_dataset_report(
            list(model), data, split, names, stability_threshold, write_predictions,
            seed=seed, samples=samples, snapshots=snapshots, plot=plot,
        )  # fmt: skip
    else:
        for value, option in ((pred, "PRED"), (ref, "--ref"), (top, "--top")):
            if not value:
                raise InputError(option, "missing: give PRED --ref REF --top TOP, or --model "
                                 "CKPT --data DATA.h5")  # fmt: skip
        from neuralmd_core.evaluation import evaluate as E

        report = E.evaluate_files(
            list(pred), ref, top, pred_top, ligand_resname, names, stability_threshold, start,
            plot=plot,
        )  # fmt: skip
    if per_snapshot is not None:
        from neuralmd_core.evaluation._files import write_csv

        write_csv(per_snapshot, _clean(report.per_snapshot))
    echo_result(render(_clean(report.rows), fmt, meta=report.meta if fmt == "json" else None))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
