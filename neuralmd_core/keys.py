"""Every field name neuralmd passes around, with its shape, dtype and unit.

Library units: length Å, time ps, mass amu (g/mol), energy kcal/mol. Writers convert
(XTC/TRR/NetCDF-in-nm through mdtraj) and nothing else does.

Per-system fields (a :class:`~neuralmd_core.data.system.BindingSystem` holds them as numpy
arrays; a batch holds them as torch tensors concatenated over systems):
"""

from __future__ import annotations

from typing import Final

# --- rigid protein (snapshot 0), one row per residue with a full N-CA-C backbone -------------
BACKBONE: Final[str] = "backbone"  # (R, 3, 3) float, Å; [:, 0]=N, [:, 1]=CA, [:, 2]=C
RES_TYPE: Final[str] = "res_type"  # (R,) int64, index into RESIDUE_VOCAB (UNKNOWN_RESIDUE = 20)
RES_NUMBER: Final[str] = "res_number"  # (R,) int64, residue sequence number from the input
CHAIN_ID: Final[str] = "chain_id"  # (R,) str, chain identifier from the input ("" if none)

# --- flexible ligand, heavy atoms only --------------------------------------------------------
LIG_Z: Final[str] = "lig_z"  # (N,) int64, atomic numbers
LIG_MASS: Final[str] = "lig_mass"  # (N,) float, amu
LIG_BONDS: Final[str] = "lig_bonds"  # (B, 2) int64, heavy-atom index pairs (i < j)
LIG_BOND_ORDER: Final[str] = "lig_bond_order"  # (B,) float, 1 / 1.5 (aromatic) / 2 / 3
LIG_POS: Final[str] = "lig_pos"  # (T, N, 3) float, Å; in a batch (T, N_total, 3)
#: optional: the ligand alone after a force-field minimisation (MMFF94, else UFF), same frame as
#: LIG_POS; only its rigid distances are used (the ideal internal geometry of a single-pose start)
LIG_IDEAL: Final[str] = "lig_ideal"  # (N, 3) float, Å; in a batch (N_total, 3)
#: optional: the bound pose the manifold SDE's tether pulls towards (the mean of the known
#: history; the trainer sets it to the training frames' mean, or frame 0 in the multi task)
LIG_ANCHOR: Final[str] = "lig_anchor"  # (N, 3) float, Å; in a batch (N_total, 3)
#: optional: the rigid protein's heavy atoms near the ligand (within ``POCKET_SHELL_A`` of its
#: first pose), the atoms the manifold SDE's steric wall keeps the ligand from
POCKET_XYZ: Final[str] = "pocket_xyz"  # (P, 3) float, Å; in a batch (P_total, 3)
TIME: Final[str] = "time_ps"  # (T,) float, ps
ENERGY: Final[str] = "energy_kcal_mol"  # (T,) float, kcal/mol interaction energy label (optional)

# --- batch-only fields ----------------------------------------------------------------------
LIG_BATCH: Final[str] = "lig_batch"  # (N_total,) int64, which system each ligand atom belongs to
RES_BATCH: Final[str] = "res_batch"  # (R_total,) int64, which system each residue belongs to
NUM_SYSTEMS: Final[str] = "num_systems"  # int, number of systems B in the batch
POCKET_BATCH: Final[str] = "pocket_batch"  # (P_total,) int64, which system each pocket atom is in
LIG_BONDS_BATCH: Final[str] = "lig_bonds_batch"  # (B_total, 2) int64, bonds with atom offsets

# --- units (stored as HDF5 attributes, in checkpoints and in output metadata) ----------------
UNITS: Final[dict[str, str]] = {
    "length": "angstrom",
    "time": "ps",
    "mass": "amu",
    "energy": "kcal/mol",
}

KJ_PER_KCAL: Final[float] = 4.184

# --- residue vocabulary: 20 standard amino acids, then unknown --------------------------------
RESIDUE_VOCAB: Final[tuple[str, ...]] = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
)  # fmt: skip
UNKNOWN_RESIDUE: Final[int] = len(RESIDUE_VOCAB)  # 20
NUM_RESIDUE_TYPES: Final[int] = len(RESIDUE_VOCAB) + 1  # 21

# Force-field and protonation variants mapped onto their standard residue.
RESIDUE_ALIASES: Final[dict[str, str]] = {
    "HIE": "HIS", "HID": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
    "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "MSE": "MET",
}  # fmt: skip


def residue_index(name: str) -> int:
    """Map a residue name (any common force-field variant) to its RESIDUE_VOCAB index.

    Args:
        name: residue name, e.g. ``"ALA"``, ``"HIE"``, ``"NALA"`` (AMBER N-terminal form).

    Returns:
        Index in ``RESIDUE_VOCAB``, or ``UNKNOWN_RESIDUE`` (20) for anything else.
    """
    key = name.strip().upper()
    if len(key) == 4 and key[0] in "NC" and key[1:] in RESIDUE_VOCAB + tuple(RESIDUE_ALIASES):
        key = key[1:]
    key = RESIDUE_ALIASES.get(key, key)
    try:
        return RESIDUE_VOCAB.index(key)
    except ValueError:
        return UNKNOWN_RESIDUE
