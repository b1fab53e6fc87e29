"""`neuralmd benchmark`: rollout frames per second, and the speed-up over OpenMM."""

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

FORMATS = ("table", "json", "csv")
COMPILE_MODES = {"no": (False,), "yes": (True,), "both": (False, True)}
#: what ``--format table`` shows (json and csv keep every field): record field → header
TABLE_COLUMNS = {
    "model": "model",
    "method": "method",
    "batch": "batch",
    "compiled": "compiled",
    "threads": "threads",
    "fps": "fps",
    "ns_per_day": "ns_per_day",
    "evals_per_snapshot": "evals/snap",
    "eval_ms": "eval_ms",
    "peak_mem_MiB": "peak_MiB",
    "speedup": "speedup",
    "ensemble_speedup": "ens_speedup",
}


def _parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InputError("--batch", f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise InputError("--batch", "batch sizes must be positive integers")
    return values


def _check_options(
    snapshots: int,
    repeats: int,
    openmm_ps: float,
    fmt: str,
    threads: int | None = None,
    compile_mode: str = "no",
    ensemble_snapshots: int = 0,
    ensemble_refs: list[Path] | None = None,
    ensemble_top: Path | None = None,
) -> None:
    """Out-of-range options, refused before anything is read or imported."""
    if fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if snapshots < 1:
        raise InputError("--snapshots", f"must be at least 1 (got {snapshots})")
    if repeats < 1:
        raise InputError("--repeats", f"must be at least 1 (got {repeats})")
    if not (math.isfinite(openmm_ps) and openmm_ps > 0):
        raise InputError("--openmm-ps", f"must be a positive number of ps (got {openmm_ps})")
    if threads is not None and threads < 1:
        raise InputError("--threads", f"must be at least 1 (got {threads})")
    if compile_mode not in COMPILE_MODES:
        raise InputError("--compile", f"unknown mode {compile_mode!r} (use no, yes or both)")
    if ensemble_snapshots < 0:
        raise InputError(
            "--ensemble-snapshots", f"must be 0 (off) or more (got {ensemble_snapshots})"
        )
    if ensemble_top is not None and not ensemble_refs:
        raise InputError("--ensemble-ref-top", "needs --ensemble-ref (the MD trajectories)")


def _compact(value: object) -> object:
    """A table cell: 4 significant digits, no exponent above 1000, yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return value


def _table_rows(records: list[dict]) -> list[dict]:
    """The :data:`TABLE_COLUMNS` that some record has (not ``None``), compactly formatted."""
    shown = [k for k in TABLE_COLUMNS if any(r.get(k) is not None for r in records)]
    return [{TABLE_COLUMNS[k]: _compact(r.get(k)) for k in shown} for r in records]


def _openmm_files(system: Path | None, integrator: Path | None, state: Path | None):
    """The three OpenMM files, all or none, each an existing non-empty file."""
    from neuralmd_core.io._files import check_file

    omm = [system, integrator, state]
    if not any(p is not None for p in omm):
        return None
    if not all(p is not None for p in omm):
        raise InputError(
            "--openmm-*", "give --openmm-system, --openmm-integrator and --openmm-state together"
        )
    return [check_file(p) for p in omm]


@handle_errors
def benchmark(
    complex_pdb: Path = typer.Argument(..., help="Protein (or complex) PDB."),
    ligand: Path = typer.Argument(..., help="Ligand SDF/MOL2 with 3D coordinates."),
    model: list[Path] = typer.Option(
        None, "--model", help="Checkpoint (.pt), repeatable; default: the bundled model."
    ),
    snapshots: int = typer.Option(
        100,
        "--snapshots",
        help="Snapshots predicted per rollout (>= 1), each one interval of the model's "
        "training data (ps, from the checkpoint).",
    ),
    batch: str = typer.Option(
        "1,8,32", "--batch", help="Comma-separated batch sizes (trajectories per rollout)."
    ),
    repeats: int = typer.Option(
        5, "--repeats", help="Timed rollouts per model and batch (>= 1), after one warm-up."
    ),
    device: str = typer.Option("auto", "--device", help="Torch device: auto, cpu, cuda or cuda:N."),
    openmm_system: Path = typer.Option(
        None, "--openmm-system", help="Serialized OpenMM System XML (same complex)."
    ),
    openmm_integrator: Path = typer.Option(
        None, "--openmm-integrator", help="Serialized OpenMM Integrator XML."
    ),
    openmm_state: Path = typer.Option(None, "--openmm-state", help="Serialized OpenMM State XML."),
    openmm_ps: float = typer.Option(
        2.0, "--openmm-ps", help="Simulated time per OpenMM repeat, ps (> 0)."
    ),
    threads: int = typer.Option(
        None, "--threads", help="Torch threads of the rollouts (>= 1); default: automatic."
    ),
    compile_mode: str = typer.Option(
        "no", "--compile", help="torch.compile the networks: no, yes or both (eager first)."
    ),
    ensemble_snapshots: int = typer.Option(
        1000,
        "--ensemble-snapshots",
        help="Snapshots of the long rollout per batch size for the time to ensemble (0: off).",
    ),
    ensemble_ref: list[Path] = typer.Option(
        None,
        "--ensemble-ref",
        help="MD trajectory of the same complex for the MD's time to ensemble (repeatable: "
        "independent replicas, pooled).",
    ),
    ensemble_ref_top: Path = typer.Option(
        None, "--ensemble-ref-top", help="Topology of the --ensemble-ref trajectories."
    ),
    fmt: str = typer.Option("table", "--format", help="Output on stdout: table, json or csv."),
    quiet: bool = quiet_option(),
    verbose: int = verbose_option(),
) -> None:
    """Time rollouts (FPS, median and range over repeats) for each model and batch size.

    FPS = predicted snapshots per wall second (a batch of B counts B x snapshots).
    With the OpenMM files: speedup = MD seconds per simulated ps / model seconds per ps.
    Time to ensemble: snapshots until the pooled per-atom RMSF stays within 10 % of the run's.
    """
    setup_logging(verbose, quiet)
    refs = list(ensemble_ref or [])
    _check_options(snapshots, repeats, openmm_ps, fmt, threads, compile_mode,
                   ensemble_snapshots, refs, ensemble_ref_top)  # fmt: skip
    batches = _parse_batches(batch)
    omm = _openmm_files(openmm_system, openmm_integrator, openmm_state)
    refs, ref_top = _ensemble_files(refs, ensemble_ref_top)

    from neuralmd_core.data.prepare import system_from_pdb_sdf
    from neuralmd_core.dynamics.checkpoint import load_method
    from neuralmd_core.evaluation._instrument import rollout_kwargs
    from neuralmd_core.evaluation.benchmark import (
        OpenMMInputs,
        load_openmm,
        machine_description,
        model_labels,
        run_benchmark,
    )
    from neuralmd_core.evaluation.ensemble_time import load_md_reference
    from neuralmd_core.rollout_job import default_model_path, resolve_device

    modes = COMPILE_MODES[compile_mode]
    rollout_kwargs(any(modes), threads)  # options this rollout engine lacks, before any work

    openmm_inputs = OpenMMInputs(*omm) if omm else None
    if openmm_inputs is not None:
        load_openmm(openmm_inputs)  # bad OpenMM files are reported before any work
    paths = [Path(p) for p in model] if model else [default_model_path()]
    dev = resolve_device(device)
    models = [(label, *load_method(p, map_location="cpu"))
              for label, p in zip(model_labels(paths), paths)]  # fmt: skip
    system = system_from_pdb_sdf(complex_pdb, ligand)[0]
    md_ref = load_md_reference(refs, ref_top, system.lig_z) if refs else None
    records = run_benchmark(
        models, system, snapshots, batches, repeats, dev,
        openmm_inputs, openmm_ps, modes, threads, ensemble_snapshots, md_ref,
    )  # fmt: skip
    meta = {"machine": machine_description(dev), "complex": str(complex_pdb), "ligand": str(ligand)}
    if fmt == "table":
        echo_result(render(_table_rows(records), fmt))
    else:
        echo_result(render(records, fmt, meta=meta if fmt == "json" else None))


def _ensemble_files(refs: list[Path], top: Path | None) -> tuple[list[Path], Path | None]:
    """The MD replicas and their topology, each an existing non-empty file."""
    from neuralmd_core.io._files import check_file

    return [check_file(p) for p in refs], (check_file(top) if top is not None else None)


def register(app: typer.Typer) -> None:
    """Add ``benchmark`` to the app."""
    app.command("benchmark")(benchmark)
