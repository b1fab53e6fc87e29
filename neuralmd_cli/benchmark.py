"""`neuralmd benchmark`: rollout frames per second, and the speed-up over OpenMM."""

from __future__ import annotations

from pathlib import Path

import typer

from neuralmd_cli._output import echo_result, handle_errors, render, setup_logging
from neuralmd_core.errors import InputError


def _parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InputError("--batch", f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise InputError("--batch", "batch sizes must be positive integers")
    return values


@handle_errors
def benchmark(
    complex_pdb: Path = typer.Argument(..., help="Protein PDB."),
    ligand: Path = typer.Argument(..., help="Ligand SDF/MOL2."),
    model: list[Path] = typer.Option(
        None, "--model", help="Checkpoint(s); default: the bundled model."
    ),
    snapshots: int = typer.Option(100, "--snapshots"),
    batch: str = typer.Option("1,8,32", "--batch", help="Comma-separated batch sizes."),
    repeats: int = typer.Option(5, "--repeats"),
    device: str = typer.Option("auto", "--device"),
    openmm_system: Path = typer.Option(
        None, "--openmm-system", help="Serialized OpenMM System XML."
    ),
    openmm_integrator: Path = typer.Option(
        None, "--openmm-integrator", help="Serialized Integrator XML."
    ),
    openmm_state: Path = typer.Option(None, "--openmm-state", help="Serialized State XML."),
    openmm_ps: float = typer.Option(2.0, "--openmm-ps", help="Simulated ps per OpenMM repeat."),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
) -> None:
    """Time rollouts (FPS, median and range over repeats) for each model and batch size."""
    from neuralmd_core.data.prepare import system_from_pdb_sdf
    from neuralmd_core.dynamics.checkpoint import load_method
    from neuralmd_core.evaluation.benchmark import OpenMMInputs, machine_description, run_benchmark
    from neuralmd_core.rollout_job import default_model_path, resolve_device

    setup_logging(verbose)
    batches = _parse_batches(batch)
    if repeats < 1 or snapshots < 1:
        raise InputError("--repeats/--snapshots", "must be at least 1")
    omm = [openmm_system, openmm_integrator, openmm_state]
    if any(p is not None for p in omm) and not all(p is not None for p in omm):
        raise InputError(
            "--openmm-*", "give --openmm-system, --openmm-integrator and --openmm-state together"
        )
    openmm_inputs = OpenMMInputs(*omm) if all(p is not None for p in omm) else None
    paths = list(model) if model else [default_model_path()]
    for p in paths:
        if not Path(p).is_file():
            raise InputError(p, "checkpoint not found")
    dev = resolve_device(device)
    system = system_from_pdb_sdf(complex_pdb, ligand)[0]
    models = [(Path(p).name, *load_method(p, map_location="cpu")) for p in paths]
    records = run_benchmark(
        models, system, snapshots, batches, repeats, dev, openmm_inputs, openmm_ps
    )
    meta = {"machine": machine_description(dev), "complex": str(complex_pdb), "ligand": str(ligand)}
    echo_result(render(records, fmt, meta=meta if fmt == "json" else None))


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
