"""``neuralmd train``: fit a method on a prepared dataset and write a run directory.

Every input (dataset, config file, split file, run directory, option ranges) is checked before
torch and Lightning are imported, so a mistake is reported in a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from neuralmd_cli._output import (
    echo_result,
    handle_errors,
    quiet_option,
    setup_logging,
    verbose_option,
)


@handle_errors
def train_command(
    dataset: Path = typer.Argument(..., help="Prepared dataset (.h5) from `neuralmd prepare`."),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Run directory to create (config, metrics, checkpoints)."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Method, e.g. neuralmd-ode, neuralmd-sde, gnn-md, static."
    ),
    task: str = typer.Option(
        None, "--task", help="single (one trajectory, split in time) or multi (by trajectory)."
    ),
    trajectory: str = typer.Option(
        None, "--trajectory", help="Single task: trajectory name (default: the dataset's first)."
    ),
    split_file: Path = typer.Option(
        None,
        "--split-file",
        help="Multi task: JSON file of train/val/test lists of trajectory names.",
    ),
    config: Path = typer.Option(None, "--config", "-c", help="YAML config; flags override it."),
    epochs: int = typer.Option(
        None, "--epochs", help="Passes over the training windows, 0 = validate only (default: 32)."
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed of splits, init, batches, noise (default: 0)."
    ),
    batch_size: int = typer.Option(
        None,
        "--batch-size",
        help="Global batch, windows or trajectories (default: single 1, multi 32).",
    ),
    lr: float = typer.Option(None, "--lr", help="Learning rate (> 0) (default: 1e-4)."),
    horizon: int = typer.Option(
        None,
        "--horizon",
        help="Single: snapshots predicted per window (default 1); multi: largest end snapshot.",
    ),
    loss: str = typer.Option(
        None, "--loss", help="Loss: l1 (Å) or mse (Å²) (default: the method's, per task)."
    ),
    eval_every: int = typer.Option(
        None, "--eval-every", help="Validate every N epochs, and after the last (default: 1)."
    ),
    adjoint: bool = typer.Option(
        None, "--adjoint/--no-adjoint", help="Adjoint gradients (neuralmd-ode/-sde) (default: off)."
    ),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda (default: auto)."),
    devices: int = typer.Option(
        None, "--devices", help="DDP processes per node (>= 1) (default: 1)."
    ),
    num_nodes: int = typer.Option(
        None, "--num-nodes", help="Nodes for multi-node DDP (default: 1)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.pt."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run directory."),
    progress: bool = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr (terminal only) (default: on).",
    ),
    quiet: bool = quiet_option(),
    verbose: int = verbose_option(),
) -> None:
    """Train a method; print a one-line JSON summary of the best checkpoint on stdout.

    Lengths are in Å and times in ps.
    The progress bar and the log go to stderr (Lightning's own messages only with -vv).
    """
    setup_logging(verbose, quiet)
    overrides = {
        "model": model, "task": task, "trajectory": trajectory,
        "split_file": None if split_file is None else str(split_file),
        "epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr, "horizon": horizon,
        "loss": loss, "eval_every": eval_every, "device": device, "devices": devices,
        "num_nodes": num_nodes, "progress": False if quiet else progress,
        "method": {"adjoint": adjoint} if adjoint is not None else None,
    }  # fmt: skip
    from neuralmd_core.training.inputs import check_train_inputs

    check_train_inputs(dataset, out, config, overrides, resume=resume, force=force)

    from neuralmd_core.training.config import load_config
    from neuralmd_core.training.run import is_main_process, train

    cfg = load_config(config, overrides)
    summary = train(dataset, cfg, out, resume=resume, force=force)
    if is_main_process():
        echo_result(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add ``train`` to the app."""
    app.command("train")(train_command)
