"""The in-memory binding system: a rigid protein backbone and a flexible ligand over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuralmd_core import keys


@dataclass
class BindingSystem:
    """One trajectory of one protein-ligand complex, in library units (Å, ps, amu, kcal/mol).

    Attributes:
        name: unique name of the trajectory inside a dataset (e.g. ``"t4l_seed0"``).
        backbone: (R, 3, 3) float32 Å, N/CA/C of each residue at snapshot 0.
        res_type: (R,) int64 index into ``keys.RESIDUE_VOCAB``.
        res_name: (R,) str residue names as read (kept for provenance).
        res_number: (R,) int64 residue numbers as read.
        chain_id: (R,) str chain identifiers as read.
        lig_z: (N,) int64 atomic numbers of the ligand heavy atoms.
        lig_mass: (N,) float32 amu.
        lig_bonds: (B, 2) int64 heavy-atom bonds (i < j).
        lig_bond_order: (B,) float32 bond orders (aromatic = 1.5).
        lig_pos: (T, N, 3) float32 Å.
        time_ps: (T,) float64 ps.
        energy: (T,) float64 kcal/mol interaction-energy labels, or ``None``.
        lig_resname: the ligand's residue name (written back into output files).
        lig_atom_names: (N,) atom names of the ligand heavy atoms.
        system_id: the complex this trajectory belongs to (replicas share it).
        provenance: JSON-serialisable metadata (source files, PDB id, force field, ...).
        lig_ideal: (N, 3) Å force-field-minimised ligand geometry, or ``None`` (``keys.LIG_IDEAL``).
        lig_anchor: (N, 3) Å bound pose of the tether prior, or ``None`` (``keys.LIG_ANCHOR``;
            set by the trainer, never stored).
        pocket_xyz: (P, 3) float32 Å protein heavy atoms within ``POCKET_SHELL_A`` of the
            ligand's first pose, or ``None`` (``keys.POCKET_XYZ``; the steric wall then uses
            the backbone).
    """

    name: str
    backbone: np.ndarray
    res_type: np.ndarray
    res_name: np.ndarray
    res_number: np.ndarray
    chain_id: np.ndarray
    lig_z: np.ndarray
    lig_mass: np.ndarray
    lig_bonds: np.ndarray
    lig_bond_order: np.ndarray
    lig_pos: np.ndarray
    time_ps: np.ndarray
    energy: np.ndarray | None = None
    lig_resname: str = "LIG"
    lig_atom_names: list[str] = field(default_factory=list)
    system_id: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    lig_ideal: np.ndarray | None = None
    lig_anchor: np.ndarray | None = None
    pocket_xyz: np.ndarray | None = None

    @property
    def num_residues(self) -> int:
        return int(self.backbone.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.lig_z.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.lig_pos.shape[0])

    @property
    def snapshot_interval_ps(self) -> float:
        """Median spacing of ``time_ps`` (ps); 0.0 for a single snapshot."""
        if self.time_ps.shape[0] < 2:
            return 0.0
        return float(np.median(np.diff(self.time_ps)))

    def validate(self) -> None:
        """Check shapes and finiteness; raise ``ValueError`` naming the first problem."""
        r, n, t = self.num_residues, self.num_atoms, self.num_frames
        checks = [
            (self.backbone.shape == (r, 3, 3), f"backbone shape {self.backbone.shape}"),
            (self.res_type.shape == (r,), "res_type length differs from backbone"),
            (self.lig_mass.shape == (n,), "lig_mass length differs from lig_z"),
            (self.lig_pos.ndim == 3 and self.lig_pos.shape[1:] == (n, 3), "lig_pos shape"),
            (self.time_ps.shape == (t,), "time_ps length differs from lig_pos"),
            (r > 0, "no protein residues with a complete N-CA-C backbone"),
            (n > 0, "no ligand heavy atoms"),
            (t > 0, "no snapshots"),
            (bool(np.isfinite(self.lig_pos).all()), "ligand coordinates contain NaN/inf"),
            (bool(np.isfinite(self.backbone).all()), "backbone coordinates contain NaN/inf"),
        ]
        if self.energy is not None:
            checks.append((self.energy.shape == (t,), "energy length differs from lig_pos"))
        if self.pocket_xyz is not None:
            p = np.asarray(self.pocket_xyz)
            checks.append((p.ndim == 2 and p.shape[1] == 3, f"pocket_xyz shape {p.shape}"))
            checks.append((bool(np.isfinite(p).all()), "pocket coordinates contain NaN/inf"))
        for ok, problem in checks:
            if not ok:
                raise ValueError(problem)

    def static_tensors(self) -> dict[str, np.ndarray]:
        """The per-system fields a model needs, keyed by ``keys`` constants (numpy)."""
        return {
            keys.BACKBONE: self.backbone,
            keys.RES_TYPE: self.res_type,
            keys.LIG_Z: self.lig_z,
            keys.LIG_MASS: self.lig_mass,
            keys.LIG_BONDS: self.lig_bonds,
        } | {
            key: value
            for key, value in (
                (keys.LIG_IDEAL, self.lig_ideal),
                (keys.LIG_ANCHOR, self.lig_anchor),
                (keys.POCKET_XYZ, self.pocket_xyz),
            )
            if value is not None
        }
