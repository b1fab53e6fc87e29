"""Files written by ``evaluate`` and ``rmsf``: predicted trajectories of dataset systems, CSV
tables and figures. Every file goes through :mod:`neuralmd_core.io._atomic` (a temporary file
beside the target, renamed at the end, with the permissions ``open()`` would give)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralmd_core.errors import InputError
from neuralmd_core.io._atomic import atomic_output

#: figure extension → matplotlib format (JPEG through pillow, a matplotlib dependency)
PLOT_FORMATS: dict[str, str] = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".jpg": "jpeg",
                                ".jpeg": "jpeg"}  # fmt: skip


def check_output(
    path: str | Path,
    force: bool = False,
    option: str = "",
    suffixes: Sequence[str] | None = None,
) -> Path:
    """Refuse an output file before any work is done.

    Args:
        path: the file to write.
        force: allow overwriting an existing file.
        option: the option that names it (``--plot``), for messages.
        suffixes: the extensions it may have (``None``: any).

    Raises:
        InputError: a directory, an extension not in ``suffixes``, a missing folder, or an
            existing file without ``force``.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(p, "is a directory, expected a file name")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise InputError(p, f"{option or 'output'}: unknown extension {p.suffix or '(none)'!r}; "
                         f"use one of {' '.join(suffixes)}")  # fmt: skip
    if not p.parent.is_dir():
        raise InputError(p, "output folder does not exist")
    if p.exists() and not force:
        raise InputError(p, "already exists (use --force to overwrite)")
    return p


def check_plot_output(path: str | Path, force: bool = True, option: str = "--plot") -> Path:
    """:func:`check_output` for a figure: ``.png .pdf .svg .jpg .jpeg``."""
    return check_output(path, force, option, tuple(PLOT_FORMATS))


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure atomically in the format its extension names."""
    p = check_plot_output(path)
    with atomic_output(p) as tmp:
        fig.savefig(tmp, format=PLOT_FORMATS[p.suffix.lower()], dpi=dpi)
    return p


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits and ``-_.+`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def backbone_topology(system) -> Any:
    """An mdtraj Topology of the system's backbone: N/CA/C with its residue names/numbers/chains."""
    import mdtraj as md

    top = md.Topology()
    chains: dict[str, Any] = {}
    el = {"N": md.element.nitrogen, "CA": md.element.carbon, "C": md.element.carbon}
    for name, num, chain_id in zip(system.res_name, system.res_number, system.chain_id):
        key = str(chain_id)
        if key not in chains:
            chains[key] = top.add_chain(chain_id=key or None)
        res = top.add_residue(str(name), chains[key], resSeq=int(num))
        for atom in ("N", "CA", "C"):
            top.add_atom(atom, el[atom], res)
    return top


def write_system_trajectory(
    path: Path, system, lig_pos_A: np.ndarray, time_ps: np.ndarray
) -> list[Path]:
    """Write a ligand trajectory of a dataset system with its backbone as the protein."""
    from neuralmd_core.io.writers import write_trajectory

    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(system.lig_atom_names) or [f"X{i + 1}" for i in range(system.num_atoms)]
    return write_trajectory(path, backbone_topology(system), system.backbone.reshape(-1, 3),
                            system.lig_z, names, system.lig_resname, lig_pos_A, time_ps,
                            system.lig_bonds)  # fmt: skip


def write_csv(path: str | Path, rows: Sequence[dict]) -> Path:
    """Write ``rows`` as CSV atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
