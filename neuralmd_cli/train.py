"""``neuralmd train``: fit a method on a prepared dataset and write a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from neuralmd_cli._output import echo_result, handle_errors, setup_logging


@handle_errors
def train_command(
    dataset: Path = typer.Argument(..., help="Prepared dataset (.h5) from `neuralmd prepare`."),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Run directory (config, metrics, checkpoints)."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Method, e.g. neuralmd-ode, gnn-md, static."
    ),
    task: str = typer.Option(
        None, "--task", help="single (split in time) or multi (by trajectory)."
    ),
    trajectory: str = typer.Option(None, "--trajectory", help="single task: trajectory name."),
    split_file: Path = typer.Option(
        None, "--split-file", help="multi task: JSON train/val/test names."
    ),
    config: Path = typer.Option(None, "--config", "-c", help="YAML config; flags override it."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs [32]."),
    seed: int = typer.Option(None, "--seed", help="Random seed [0]."),
    batch_size: int = typer.Option(None, "--batch-size", help="Global batch [single 1, multi 32]."),
    lr: float = typer.Option(None, "--lr", help="Learning rate [1e-4]."),
    horizon: int = typer.Option(None, "--horizon", help="single: frames/window; multi: max end."),
    loss: str = typer.Option(None, "--loss", help="l1 or mse [the method's default]."),
    eval_every: int = typer.Option(None, "--eval-every", help="Validate every N epochs [1]."),
    adjoint: bool = typer.Option(None, "--adjoint/--no-adjoint", help="Adjoint ODE/SDE gradients."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda [auto]."),
    devices: int = typer.Option(None, "--devices", help="DDP processes per node [1]."),
    num_nodes: int = typer.Option(None, "--num-nodes", help="Nodes for multi-node DDP [1]."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.pt."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run directory."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar on stderr."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
) -> None:
    """Train a method; print a one-line JSON summary of the best checkpoint on stdout."""
    from neuralmd_core.training.config import load_config
    from neuralmd_core.training.run import is_main_process, train

    setup_logging(verbose)
    overrides = {
        "model": model, "task": task, "trajectory": trajectory,
        "split_file": None if split_file is None else str(split_file),
        "epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr, "horizon": horizon,
        "loss": loss, "eval_every": eval_every, "device": device, "devices": devices,
        "num_nodes": num_nodes, "progress": progress,
        "method": {"adjoint": adjoint} if adjoint is not None else None,
    }  # fmt: skip
    cfg = load_config(config, overrides)
    summary = train(dataset, cfg, out, resume=resume, force=force)
    if is_main_process():
        echo_result(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add ``train`` to the app."""
    app.command("train")(train_command)
