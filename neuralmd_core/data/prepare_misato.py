"""MISATO ``MD.hdf5`` (or a file in its layout) -> :class:`BindingSystem`, streamed.

``neuralmd prepare --misato`` (:func:`neuralmd_core.data.prepare.run_prepare`) writes what
:func:`prepare_from_misato` yields; one record is in memory at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from neuralmd_core import keys
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import InputError
from neuralmd_core.io import misato
from neuralmd_core.io._files import check_file
from neuralmd_core.progress import progress as progress_bar

log = logging.getLogger("neuralmd_core.data.prepare")


def progress_or_silent(total: int, desc: str, unit: str, show: bool) -> Any:
    """A progress bar on stderr (``neuralmd_core.progress``), or a silent one when not ``show``."""
    if show:
        return progress_bar(total=total, desc=desc, unit=unit)
    return tqdm(total=total, disable=True)


def _from_complex(c: misato.MisatoComplex, path: Path) -> BindingSystem:
    t = c.lig_pos.shape[0]
    provenance = {
        "source": "misato",
        "file": str(path.resolve()),
        "pdb_id": c.pdb_id,
        "force_field": misato.FORCE_FIELD,
        "snapshot_interval_ps": misato.SNAPSHOT_INTERVAL_PS,
        "time_note": "nominal 80 ps spacing; MISATO stores no time vector",
        **c.provenance,
    }
    return BindingSystem(
        name=c.pdb_id, backbone=c.backbone, res_type=np.array(
            [keys.residue_index(n) for n in c.res_name], dtype=np.int64
        ), res_name=c.res_name, res_number=c.res_number, chain_id=c.chain_id, lig_z=c.lig_z,
        lig_mass=c.lig_mass, lig_bonds=c.lig_bonds, lig_bond_order=c.lig_bond_order,
        lig_pos=c.lig_pos, time_ps=np.arange(t, dtype=np.float64) * misato.SNAPSHOT_INTERVAL_PS,
        energy=c.energy, lig_resname="MOL", lig_atom_names=c.lig_atom_names,
        system_id=c.pdb_id, provenance=provenance,
    )  # fmt: skip


def _read_id_list(path: str | Path) -> list[str]:
    p = check_file(path)
    try:
        ids = [line.strip() for line in p.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise InputError(p, "not a text file of IDs") from exc
    if not ids or any(len(i.split()) != 1 for i in ids):
        raise InputError(p, "expected one ID per line")
    return ids


def _select(path: Path, ids, split) -> tuple[list[str], bool]:
    if isinstance(ids, str):
        ids = [i for i in ids.split(",") if i.strip()]
    in_file = misato.list_ids(path)
    if split is not None:
        wanted = {i.upper() for i in _read_id_list(split)}
        if ids:
            return [i.strip() for i in ids if i.strip().upper() in wanted], True
        return [i for i in in_file if i.upper() in wanted], False
    return ([i.strip() for i in ids], True) if ids else (in_file, False)


def prepare_from_misato(
    path: str | Path,
    ids: Sequence[str] | str | None = None,
    split: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Iterator[BindingSystem]:
    """Stream MISATO complexes as :class:`BindingSystem` (one group in memory at a time).

    Args:
        path: ``MD.hdf5`` or a file in its layout. ids: IDs to take (list or ``"A,B"``); any
            bad one is an error. split: a file of IDs (one per line) restricting the selection.
        limit: stop after this many prepared complexes. progress: tqdm bar on stderr.
        workers: reader processes (default: up to 2, the CPU count permitting).

    Yields:
        One system per usable complex; peptide complexes (and, without ``ids``, unusable
        records) are skipped and listed in one warning at the end.

    Raises:
        InputError: an unusable explicitly requested ID, or no usable record at all.
    """
    p = Path(path)
    selected, strict = _select(p, ids, split)
    skipped: list[str] = []
    done = 0
    total = len(selected) if limit is None else min(limit, len(selected))
    bar = progress_or_silent(total, "prepare", "complex", progress)
    try:
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        for _gid, result in misato.iter_records(p, selected, workers=n_workers):
            if limit is not None and done >= limit:
                break
            if isinstance(result, misato.SkipRecord) or (
                isinstance(result, Exception) and not strict
            ):
                skipped.append(str(result.problem if isinstance(result, InputError) else result))
                continue
            if isinstance(result, Exception):
                raise result
            yield _from_complex(result, p)
            done += 1
            bar.update(1)
    finally:
        bar.close()
    if skipped:
        log.warning("%s: skipped %d records: %s", p, len(skipped), "; ".join(skipped[:20]))
    if done == 0:
        first = skipped[0] if skipped else "nothing selected"
        raise InputError(p, f"no usable record ({first})")
