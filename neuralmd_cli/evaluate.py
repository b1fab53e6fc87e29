"""`neuralmd evaluate`: the paper's metrics on trajectory files or on a dataset's test split."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from neuralmd_cli._output import echo_result, handle_errors, render, setup_logging
from neuralmd_core.errors import InputError

_FORMATS = ("table", "json", "csv")


def _clean(rows: list[dict]) -> list[dict]:
    """NaN (e.g. bond deviation of a ligand without bonds) → None, so JSON stays valid."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]


@handle_errors
def evaluate(
    pred: Path = typer.Argument(None, help="Predicted trajectory (file mode)."),
    ref: Path = typer.Option(None, "--ref", help="Reference (ground-truth) trajectory."),
    top: Path = typer.Option(None, "--top", help="Topology of --ref (and of PRED)."),
    pred_top: Path = typer.Option(None, "--pred-top", help="Topology of PRED if different."),
    ligand_resname: str = typer.Option(None, "--ligand-resname", help="Ligand residue name."),
    start: int = typer.Option(
        None,
        "--start",
        help="Reference frame of predicted frame 0 (default: PRED covers the tail).",
    ),
    model: list[Path] = typer.Option(
        None, "--model", help="Checkpoint (dataset mode; repeatable)."
    ),
    data: Path = typer.Option(None, "--data", help="Prepared dataset .h5 (dataset mode)."),
    split: str = typer.Option("test", "--split", help="train | val | test (dataset mode)."),
    write_predictions: Path = typer.Option(
        None, "--write-predictions", help="Folder for the predicted trajectories (dataset mode)."
    ),
    metrics: str = typer.Option(
        "mae,rmse,matching,stability,rmsd,bonds,clashes",
        "--metrics",
        help="Comma-separated: paired metrics (mae, rmse, matching, stability, rmsd, bonds, "
        "clashes) and/or 'realism' or its members (bond_err, collapse, rmsf, msd, jsd_pairs, "
        "jsd_centroid, jsd_torsions, centroid_max, contact_err).",
        show_default=False,
    ),
    snapshots: int = typer.Option(
        200,
        "--snapshots",
        help="Realism rollout length in dataset mode, in snapshots of the model's interval "
        "(ps = snapshots x the training data's interval), from the last known snapshot.",
    ),
    plot: Path = typer.Option(
        None, "--plot", help="PNG of the realism panels: RMSF per atom, MSD vs lag, histograms."
    ),
    stability_threshold: float = typer.Option(
        0.5, "--stability-threshold", help="Stability tolerance, Å."
    ),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    per_snapshot: Path = typer.Option(
        None, "--per-snapshot", help="Also write per-snapshot values to this CSV."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of stochastic methods (dataset mode)."),
    samples: int = typer.Option(
        1,
        "--samples",
        help="Trajectories per stochastic method (dataset mode): sample 0 and the mean of K are scored.",
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
) -> None:
    """Score predicted ligand trajectories: the paper's metrics and realism (docs/evaluate.md).

    File mode: PRED --ref REF --top TOP. Dataset mode: --model CKPT [--model ...] --data DATA.h5;
    the static and mean-pose reference predictors are scored beside each model. --metrics realism
    judges whether PRED is MD-like (no frame pairing), beside the replica floor (floor_* columns:
    REF's first half against its second half).
    """
    from neuralmd_core.evaluation import dataset_mode as D
    from neuralmd_core.evaluation import evaluate as E
    from neuralmd_core.evaluation.realism import split_metrics

    setup_logging(verbose)
    if fmt not in _FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use table, json or csv)")
    try:
        paired, real = split_metrics(metrics)
        names = paired + real
    except ValueError as exc:
        raise InputError("--metrics", str(exc)) from exc
    if model:
        if data is None or pred is not None:
            raise InputError(
                "--model", "dataset mode takes --model CKPT --data DATA.h5 and no PRED"
            )
        report = D.evaluate_dataset_report(
            list(model),
            data,
            split,
            names,
            stability_threshold,
            write_predictions,
            seed=seed,
            samples=samples,
            snapshots=snapshots,
            plot=plot,
        )
    else:
        if pred is None or ref is None or top is None:
            raise InputError(None, "give PRED --ref REF --top TOP, or --model CKPT --data DATA.h5")
        report = E.evaluate_files(
            pred, ref, top, pred_top, ligand_resname, names, stability_threshold, start, plot=plot
        )
    if per_snapshot is not None:
        E.write_csv(per_snapshot, _clean(report.per_snapshot))
    echo_result(render(_clean(report.rows), fmt, meta=report.meta if fmt == "json" else None))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
