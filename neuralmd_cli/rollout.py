"""`neuralmd rollout`: predicted ligand trajectories that MD viewers open."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from neuralmd_cli._output import echo_result, handle_errors, render, setup_logging
from neuralmd_core.errors import InputError


@handle_errors
def rollout(
    complex_pdb: Path = typer.Argument(None, help="Protein PDB (a ligand inside it is ignored)."),
    ligand: Path = typer.Argument(None, help="Ligand pose, SDF or MOL2."),
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="Trajectory (.xtc .dcd .trr .nc .h5 .pdb), or a folder with --batch.",
    ),
    model: Path = typer.Option(
        None, "--model", help="Checkpoint; default: the model shipped with neuralmd."
    ),
    snapshots: int = typer.Option(
        100, "--snapshots", help="Snapshots to predict after the input pose."
    ),
    samples: int = typer.Option(
        1, "--samples", help="Trajectories per complex (traj_0.xtc ...), one batched computation."
    ),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N]"),
    init_velocity: str = typer.Option("zero", "--init-velocity", help="zero | thermal | from-traj"),
    temperature: float = typer.Option(
        300.0, "--temperature", help="K, for --init-velocity thermal."
    ),
    velocity_traj: Path = typer.Option(
        None,
        "--velocity-traj",
        help="Trajectory whose last two frames give the initial velocity (from-traj).",
    ),
    velocity_top: Path = typer.Option(
        None, "--velocity-top", help="Topology for --velocity-traj if it has none."
    ),
    ligand_resname: str = typer.Option(
        None, "--ligand-resname", help="Residue name for the ligand in the output."
    ),
    batch: Path = typer.Option(
        None, "--batch", help="TSV list: PDB, SDF, NAME per line; -o is then a folder."
    ),
    batch_size: int = typer.Option(
        16, "--batch-size", help="Complexes per batched computation with --batch."
    ),
    max_displacement: float = typer.Option(
        5.0, "--max-displacement", help="Guard: Å per snapshot."
    ),
    max_bond_stretch: float = typer.Option(
        1.5, "--max-bond-stretch", help="Guard: × input bond length."
    ),
    min_backbone_distance: float = typer.Option(
        1.5, "--min-backbone-distance", help="Guard: Å to any backbone atom."
    ),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    fmt: str = typer.Option(
        "table", "--format", help="table | json | csv (status records on stdout)."
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True),
) -> None:
    """Predict ligand trajectories for COMPLEX.pdb + LIGAND.sdf and write them (with a topology PDB).

    Exit code 3 when the divergence guard stopped a trajectory (its valid frames are written,
    with TRAJ.status.json giving the snapshot and the reason).
    """
    from neuralmd_core.rollout import GuardOptions
    from neuralmd_core.rollout_job import RolloutOptions, RolloutRequest, run_batch, run_rollout

    setup_logging(verbose)
    opts = RolloutOptions(
        model=model, snapshots=snapshots, samples=samples, seed=seed, device=device,
        init_velocity=init_velocity, temperature_K=temperature, velocity_traj=velocity_traj,
        velocity_top=velocity_top, force=force,
        guard=GuardOptions(max_displacement, max_bond_stretch, min_backbone_distance),
    )  # fmt: skip
    if batch is not None:
        records = run_batch(batch, output, opts, batch_size)
    else:
        if complex_pdb is None or ligand is None:
            raise InputError(None, "give COMPLEX.pdb and LIGAND.sdf, or --batch LIST.tsv")
        req = RolloutRequest(complex_pdb, ligand, output, ligand_resname)
        records = run_rollout([req], opts)
    columns = ("trajectory", "snapshots_written", "diverged_at_snapshot", "reason")
    rows = [{c: r.get(c) for c in columns} for r in records]
    echo_result(json.dumps(records, indent=2) if fmt == "json" else render(rows, fmt))
    if any(r["reason"] for r in records):
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("rollout")(rollout)
