"""Batching of systems: concatenate along atoms/residues and record membership."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from neuralmd_core import keys

#: optional per-atom (N, 3) fields, concatenated when every item has them
_ATOM_KEYS = (keys.LIG_IDEAL, keys.LIG_ANCHOR)
_FLOAT_KEYS = (
    keys.BACKBONE, keys.LIG_MASS, keys.LIG_POS, keys.ENERGY, keys.POCKET_XYZ, *_ATOM_KEYS
)  # fmt: skip


def _as_tensor(key: str, value, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value)) if not torch.is_tensor(value) else value
    return t.to(dtype) if key in _FLOAT_KEYS else t.long()


def collate_systems(
    items: Sequence[Mapping[str, object]], dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor | int]:
    """Concatenate per-system fields into one batch.

    Args:
        items: per-system mappings with ``BACKBONE (R,3,3)``, ``RES_TYPE (R,)``, ``LIG_Z (N,)``,
            ``LIG_MASS (N,)`` and ``LIG_POS (T,N,3)`` (every item the same T); optional
            ``LIG_BONDS (B,2)``, ``ENERGY (T,)``, ``LIG_IDEAL`` and ``LIG_ANCHOR (N,3)``,
            ``POCKET_XYZ (P,3)``.
        dtype: floating dtype of coordinates and masses.

    Returns:
        A dict with ``BACKBONE (R_tot,3,3)``, ``RES_TYPE``, ``RES_BATCH (R_tot,)``, ``LIG_Z``,
        ``LIG_MASS``, ``LIG_BATCH (N_tot,)``, ``LIG_POS (T,N_tot,3)``, ``LIG_BONDS_BATCH``
        (bonds with atom offsets), ``ENERGY (B,T)`` and ``POCKET_XYZ (P_tot,3)`` with
        ``POCKET_BATCH (P_tot,)`` when every item has them, and ``NUM_SYSTEMS``.
    """
    if not items:
        raise ValueError("cannot collate an empty list of systems")
    frames = {int(np.shape(it[keys.LIG_POS])[0]) for it in items}
    if len(frames) != 1:
        raise ValueError(f"systems in one batch must share the frame count, got {sorted(frames)}")
    out: dict[str, torch.Tensor | int] = {}
    lig_batch, res_batch, bonds, offset = [], [], [], 0
    for b, it in enumerate(items):
        n = int(np.shape(it[keys.LIG_Z])[0])
        r = int(np.shape(it[keys.RES_TYPE])[0])
        lig_batch.append(torch.full((n,), b, dtype=torch.long))
        res_batch.append(torch.full((r,), b, dtype=torch.long))
        if keys.LIG_BONDS in it and it[keys.LIG_BONDS] is not None:
            bonds.append(
                _as_tensor(keys.LIG_BONDS, it[keys.LIG_BONDS], dtype).reshape(-1, 2) + offset
            )
        offset += n
    for key, dim in ((keys.BACKBONE, 0), (keys.RES_TYPE, 0), (keys.LIG_Z, 0), (keys.LIG_MASS, 0)):
        out[key] = torch.cat([_as_tensor(key, it[key], dtype) for it in items], dim=dim)
    out[keys.LIG_POS] = torch.cat(
        [_as_tensor(keys.LIG_POS, it[keys.LIG_POS], dtype) for it in items], 1
    )
    out[keys.LIG_BATCH] = torch.cat(lig_batch)
    out[keys.RES_BATCH] = torch.cat(res_batch)
    out[keys.LIG_BONDS_BATCH] = torch.cat(bonds) if bonds else torch.zeros((0, 2), dtype=torch.long)
    for key in _ATOM_KEYS:
        if all(it.get(key) is not None for it in items):
            out[key] = torch.cat([_as_tensor(key, it[key], dtype) for it in items])
    if all(it.get(keys.POCKET_XYZ) is not None for it in items):
        pockets = [_as_tensor(keys.POCKET_XYZ, it[keys.POCKET_XYZ], dtype) for it in items]
        out[keys.POCKET_XYZ] = torch.cat(pockets).reshape(-1, 3)
        out[keys.POCKET_BATCH] = torch.cat(
            [torch.full((p.shape[0],), b, dtype=torch.long) for b, p in enumerate(pockets)]
        )
    if all(it.get(keys.ENERGY) is not None for it in items):
        out[keys.ENERGY] = torch.stack(
            [_as_tensor(keys.ENERGY, it[keys.ENERGY], dtype) for it in items]
        )
    out[keys.NUM_SYSTEMS] = len(items)
    return out


def with_positions(batch: Mapping[str, object], lig_pos: torch.Tensor) -> dict[str, object]:
    """A shallow copy of ``batch`` whose ``LIG_POS`` is replaced by ``lig_pos`` (T', N_tot, 3)."""
    out = dict(batch)
    out[keys.LIG_POS] = lig_pos
    return out
