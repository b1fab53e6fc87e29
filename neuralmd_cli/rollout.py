"""`neuralmd rollout`: predicted ligand trajectories that MD viewers open."""

from __future__ import annotations

import json
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
COLUMNS = ("trajectory", "snapshots_written", "diverged_at_snapshot", "reason")


@handle_errors
def rollout(
    complex_pdb: Path = typer.Argument(
        None, help="Protein or complex PDB, Å (its own ligand, waters and ions are dropped)."
    ),
    ligand: Path = typer.Argument(None, help="Starting ligand pose, SDF or MOL2 with 3D Å."),
    output: Path = typer.Option(
        None,
        "-o",
        "--output",
        help="Trajectory to write (.xtc .dcd .trr .nc .h5 .pdb), with its topology PDB beside "
        "it; with --batch, a folder.",
    ),
    model: Path = typer.Option(
        None, "--model", help="Checkpoint (.pt); default: the model shipped with neuralmd."
    ),
    snapshots: int = typer.Option(
        100,
        "--snapshots",
        help="Snapshots to predict after the input pose, one per snapshot interval of the "
        "model (stored in the checkpoint, in ps; 1 ps for the default model).",
    ),
    samples: int = typer.Option(
        1, "--samples", help="Trajectories per complex (traj_0.xtc ...), one batched computation."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the random sampling and of thermal velocities (0 to 2^64-1)."
    ),
    device: str = typer.Option(
        "auto", "--device", help="auto (CUDA if available, else CPU) | cpu | cuda | cuda:N."
    ),
    init_velocity: str = typer.Option(
        "zero", "--init-velocity", help="Initial ligand velocity: zero | thermal | from-traj."
    ),
    temperature: float = typer.Option(
        300.0, "--temperature", help="Temperature in K (> 0) for --init-velocity thermal."
    ),
    velocity_traj: Path = typer.Option(
        None,
        "--velocity-traj",
        help="Trajectory whose last two frames give the initial velocity (from-traj).",
    ),
    velocity_top: Path = typer.Option(
        None, "--velocity-top", help="Topology for --velocity-traj if it has none."
    ),
    history: Path = typer.Option(
        None,
        "--history",
        help="Known trajectory of this complex (e.g. your MD): its last frame is the start and "
        "the model sees all of it (neuralmd-sde's torsion prior needs >= 20 frames).",
    ),
    history_top: Path = typer.Option(
        None, "--history-top", help="Topology for --history if it has none (e.g. for XTC)."
    ),
    ligand_resname: str = typer.Option(
        None,
        "--ligand-resname",
        help="Residue name (1-3 characters) written for the ligand; also its residue in the PDB.",
    ),
    ligand_chain: str = typer.Option(
        None, "--ligand-chain", help="Chain ID of the ligand's residue in the PDB (copies)."
    ),
    ligand_resid: int = typer.Option(
        None, "--ligand-resid", help="Residue number of the ligand's residue in the PDB (copies)."
    ),
    batch: Path = typer.Option(
        None, "--batch", help="TSV list: PDB, SDF, NAME per line; -o is then a folder."
    ),
    batch_size: int = typer.Option(
        16, "--batch-size", help="Complexes per batched computation with --batch (>= 1)."
    ),
    max_displacement: float = typer.Option(
        8.0, "--max-displacement", help="Guard: largest move of a ligand atom per snapshot, Å."
    ),
    max_bond_stretch: float = typer.Option(
        1.5, "--max-bond-stretch", help="Guard: longest ligand bond, × its input length (> 1)."
    ),
    min_backbone_distance: float = typer.Option(
        1.5, "--min-backbone-distance", help="Guard: closest approach to a backbone atom, Å."
    ),
    compile_mode: str = typer.Option(
        "auto",
        "--compile",
        help="Run the network through torch.compile: yes, no, or auto "
        "(only rollouts of >= 200,000 frames = samples x snapshots x complexes, which repay the "
        "15-30 s of compilation).",
    ),  # fmt: skip
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    fmt: str = typer.Option(
        "table", "--format", help="Status records on stdout: table | json | csv."
    ),
    verbose: int = verbose_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Predict ligand trajectories for COMPLEX.pdb + LIGAND.sdf and write them (with a topology PDB).

    A progress bar over the snapshots is drawn on stderr when it is a terminal (not with
    --quiet). Exit code 3 when the divergence guard stopped a trajectory: its valid frames are
    written, TRAJ.status.json gives the snapshot and the reason, and stderr says so.
    """
    from neuralmd_core.rollout import GuardOptions
    from neuralmd_core.rollout_job import (
        RolloutOptions,
        RolloutRequest,
        check_options,
        check_request,
        run_batch,
        run_rollout,
    )

    setup_logging(verbose, quiet)
    if fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
    opts = RolloutOptions(
        model=model, snapshots=snapshots, samples=samples, seed=seed, device=device,
        init_velocity=init_velocity, temperature_K=temperature, velocity_traj=velocity_traj,
        velocity_top=velocity_top, force=force, compile=compile_mode, history=history,
        history_top=history_top, guard=GuardOptions(max_displacement, max_bond_stretch, min_backbone_distance),
    )  # fmt: skip
    check_options(opts)
    if output is None:
        raise InputError("--output", "missing: give -o TRAJ.xtc (with --batch: -o FOLDER)")
    req = RolloutRequest(complex_pdb, ligand, output, ligand_resname, ligand_chain, ligand_resid)
    check_request(req)
    if batch is not None:
        if complex_pdb is not None or ligand is not None:
            raise InputError("--batch", "takes no COMPLEX.pdb/LIGAND.sdf arguments (list them)")
        if any(x is not None for x in (ligand_resname, ligand_chain, ligand_resid)):
            raise InputError("--batch", "--ligand-resname/--ligand-chain/--ligand-resid name one "
                             "complex's ligand; they take no part in a --batch")  # fmt: skip
        records = run_batch(batch, output, opts, batch_size)
    else:
        if complex_pdb is None or ligand is None:
            raise InputError(None, "give COMPLEX.pdb and LIGAND.sdf, or --batch LIST.tsv")
        records = run_rollout([req], opts)
    rows = [{c: r.get(c) for c in COLUMNS} for r in records]
    echo_result(json.dumps(records, indent=2) if fmt == "json" else render(rows, fmt))
    _report_divergence(records)


def _report_divergence(records: list[dict]) -> None:
    """One stderr line per trajectory the guard stopped, then exit 3."""
    stopped = [r for r in records if r["reason"]]
    for r in stopped:
        typer.echo(
            f"neuralmd: error: {r['trajectory']}: diverged at snapshot "
            f"{r['diverged_at_snapshot']}: {r['reason']}; {r['snapshots_written']} valid frames "
            f"written, see {r.get('status_file')}",
            err=True,
        )
    if stopped:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("rollout")(rollout)
