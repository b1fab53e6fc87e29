"""Files written by ``evaluate``: predicted trajectories of dataset systems, CSV tables."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralmd_core.errors import InputError


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
    if not path.parent.is_dir():
        raise InputError(path, "output folder does not exist")
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
