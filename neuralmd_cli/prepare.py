"""``neuralmd prepare``: MD files or MISATO MD.hdf5 -> one prepared HDF5 dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from neuralmd_cli import _output

FORMATS = ("table", "json", "csv")


def prepare(
    inputs: list[Path] = typer.Argument(
        None, help="TOPOLOGY TRAJECTORY... (PDB/GRO/prmtop/psf, then XTC/DCD/TRR/NetCDF/H5)."
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Dataset file to write (.h5); its folder must exist."
    ),
    ligand: Path = typer.Option(
        None, "--ligand", help="Ligand SDF or MOL2 with 3D coordinates (bonds, bond orders)."
    ),
    ligand_resname: str = typer.Option(
        None, "--ligand-resname", help="Ligand residue name in the topology (e.g. LIG)."
    ),
    ligand_chain: str = typer.Option(
        None, "--ligand-chain", help="Chain ID of the ligand copy to use, when there are several."
    ),
    ligand_resid: int = typer.Option(
        None, "--ligand-resid", help="Residue number of the ligand copy to use (as in the file)."
    ),
    no_image: bool = typer.Option(
        False, "--no-image", help="Keep coordinates as read (no PBC imaging of the ligand)."
    ),
    energies: Path = typer.Option(
        None, "--energies", help="Per-snapshot energy CSV (unit in the column name, e.g. _kJmol)."
    ),
    dt_ps: float = typer.Option(
        None, "--dt-ps", help="Snapshot spacing of the input, ps (default: from the file's times)."
    ),
    name: str = typer.Option(None, "--name", help="System id (default: from the file names)."),
    stride: int = typer.Option(1, "--stride", help="Keep every k-th snapshot (k >= 1)."),
    misato: Path = typer.Option(None, "--misato", help="MISATO MD.hdf5 (or a file in its layout)."),
    split: Path = typer.Option(None, "--split", help="MISATO: text file with one ID per line."),
    ids: str = typer.Option(None, "--ids", help="MISATO: comma-separated IDs, e.g. 11GS,1A0Q."),
    limit: int = typer.Option(None, "--limit", help="MISATO: stop after N complexes (N >= 1)."),
    workers: int = typer.Option(
        None, "--workers", help="MISATO: reader processes (>= 1) (default: 2, or fewer CPUs)."
    ),
    append: bool = typer.Option(False, "--append", help="Add to an existing dataset."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite an existing output file."),
    quiet: bool = _output.quiet_option(),
    verbose: int = _output.verbose_option(),
    fmt: str = typer.Option("table", "--format", help="Summary on stdout: table, json or csv."),
) -> None:
    """Turn MD trajectories or MISATO's MD.hdf5 into one training-ready dataset.

    Coordinates are stored in Å, times in ps, energies in kcal/mol.
    A progress bar goes to stderr when it is a terminal (not with -q); the summary to stdout.
    """
    from neuralmd_core.errors import InputError

    _output.setup_logging(verbose, quiet)
    if fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    inputs = list(inputs or [])
    if misato is None and len(inputs) < 2:
        raise InputError(None, "give TOPOLOGY and at least one TRAJECTORY, or --misato FILE")
    from neuralmd_core.data.prepare import run_prepare

    summary = run_prepare(
        output, topology=inputs[0] if inputs else None, trajectories=inputs[1:],
        ligand=ligand, ligand_resname=ligand_resname, image=not no_image, energies=energies,
        dt_ps=dt_ps, name=name, stride=stride, misato_file=misato, split=split, ids=ids,
        limit=limit, workers=workers, append=append, force=force, progress=not quiet,
        ligand_chain=ligand_chain, ligand_resid=ligand_resid,
    )  # fmt: skip
    row = {k: summary[k] for k in ("output", "trajectories", "frames")}
    row["names"] = ",".join(summary["written"][:5]) + (
        ",..." if len(summary["written"]) > 5 else ""
    )
    _output.echo_result(_output.render([row], fmt))


def register(app: typer.Typer) -> None:
    """Add ``prepare`` to the app."""
    app.command("prepare")(_output.handle_errors(prepare))
