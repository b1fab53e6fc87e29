"""``neuralmd prepare``: MD files or MISATO MD.hdf5 -> one prepared HDF5 dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from neuralmd_cli import _output


def prepare(
    inputs: list[Path] = typer.Argument(
        None, help="TOPOLOGY TRAJECTORY... (PDB/GRO/prmtop/psf, then XTC/DCD/TRR/NetCDF/H5)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Prepared dataset to write (.h5)."),
    ligand: Path = typer.Option(None, "--ligand", help="Ligand SDF or MOL2 (bonds, orders)."),
    ligand_resname: str = typer.Option(None, "--ligand-resname", help="Ligand residue name."),
    no_image: bool = typer.Option(False, "--no-image", help="Do not image the ligand (PBC)."),
    energies: Path = typer.Option(
        None, "--energies", help="Per-snapshot energy CSV (unit in the column name)."
    ),
    dt_ps: float = typer.Option(None, "--dt-ps", help="Snapshot spacing of the input (ps)."),
    name: str = typer.Option(None, "--name", help="System id (default: from the file names)."),
    stride: int = typer.Option(1, "--stride", help="Keep every k-th snapshot."),
    misato: Path = typer.Option(None, "--misato", help="MISATO MD.hdf5 (or same layout)."),
    split: Path = typer.Option(None, "--split", help="MISATO: file with one ID per line."),
    ids: str = typer.Option(None, "--ids", help="MISATO: comma-separated IDs."),
    limit: int = typer.Option(None, "--limit", help="MISATO: stop after N complexes."),
    workers: int = typer.Option(None, "--workers", help="MISATO: reader processes (default 2)."),
    append: bool = typer.Option(False, "--append", help="Add to an existing dataset."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite an existing output."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Errors only, no progress bar."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More log output."),
    fmt: str = typer.Option("table", "--format", help="Summary format: table or json."),
) -> None:
    """Turn MD trajectories or MISATO's MD.hdf5 into one training-ready dataset."""
    from neuralmd_core.data.prepare import run_prepare
    from neuralmd_core.errors import InputError

    _output.setup_logging(verbose, quiet)
    inputs = list(inputs or [])
    if misato is None and len(inputs) < 2:
        raise InputError(None, "give TOPOLOGY and at least one TRAJECTORY, or --misato FILE")
    summary = run_prepare(
        output, topology=inputs[0] if inputs else None, trajectories=inputs[1:],
        ligand=ligand, ligand_resname=ligand_resname, image=not no_image, energies=energies,
        dt_ps=dt_ps, name=name, stride=stride, misato_file=misato, split=split, ids=ids,
        limit=limit, workers=workers, append=append, force=force, progress=not quiet,
    )  # fmt: skip
    row = {k: summary[k] for k in ("output", "trajectories", "frames")}
    row["names"] = ",".join(summary["written"][:5]) + (
        ",..." if len(summary["written"]) > 5 else ""
    )
    _output.echo_result(_output.render([row], fmt))


def register(app: typer.Typer) -> None:
    """Add ``prepare`` to the app."""
    app.command("prepare")(_output.handle_errors(prepare))
