"""Ligand files (SDF, MOL2) through RDKit: elements, bonds with orders, charges, 3D pose."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger

from neuralmd_core.errors import InputError
from neuralmd_core.io._files import check_file, short

_RESNAME = re.compile(r"^[A-Z0-9]{1,3}$")


@dataclass
class LigandInfo:
    """The heavy atoms of a ligand read from a file, in file order (hydrogens dropped).

    Attributes:
        z: (N,) int64 atomic numbers.
        mass: (N,) float32 amu (periodic-table atomic weights).
        bonds: (B, 2) int64 heavy-atom index pairs, i < j.
        bond_order: (B,) float32, 1 / 1.5 (aromatic) / 2 / 3.
        formal_charge: (N,) int64 formal charges.
        pos: (N, 3) float64 Å, the pose in the file.
        heavy_index: (N,) int64 index of each heavy atom in the file (hydrogens included).
        atom_names: N names (from MOL2, else element + running number).
        title: the molecule title (SDF first line / MOL2 name).
        resname: a residue name for output files (the title if it looks like one, else ``LIG``).
        total_charge: sum of the formal charges of all atoms (hydrogens included).
    """

    z: np.ndarray
    mass: np.ndarray
    bonds: np.ndarray
    bond_order: np.ndarray
    formal_charge: np.ndarray
    pos: np.ndarray
    heavy_index: np.ndarray
    atom_names: list[str] = field(default_factory=list)
    title: str = ""
    resname: str = "LIG"
    total_charge: int = 0

    @property
    def num_atoms(self) -> int:
        return int(self.z.shape[0])


def atomic_mass(z: np.ndarray) -> np.ndarray:
    """Periodic-table atomic weights (amu) of atomic numbers ``z`` (N,) -> (N,) float32."""
    table = Chem.GetPeriodicTable()
    return np.array([table.GetAtomicWeight(int(a)) for a in z], dtype=np.float32)


def element_names(z: np.ndarray) -> list[str]:
    """PDB-style atom names (element + running number per element), at most 4 characters."""
    table = Chem.GetPeriodicTable()
    counts: dict[str, int] = {}
    names = []
    for a in z:
        sym = table.GetElementSymbol(int(a)).upper()
        counts[sym] = counts.get(sym, 0) + 1
        names.append(f"{sym}{counts[sym]}"[:4])
    return names


def _read_mol(path: Path) -> Chem.Mol:
    suffix = path.suffix.lower()
    RDLogger.DisableLog("rdApp.*")
    try:
        if suffix in (".sdf", ".mol", ".sd"):
            supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)
            mol = next(iter(supplier), None) if len(supplier) else None
        elif suffix == ".mol2":
            mol = Chem.MolFromMol2File(str(path), removeHs=False, sanitize=True)
        else:
            raise InputError(path, f"unknown ligand format {suffix!r} (use .sdf or .mol2)")
    except InputError:
        raise
    except Exception as exc:  # RDKit raises assorted errors on garbage
        raise InputError(path, f"cannot read ligand: {short(exc)}") from exc
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None:
        raise InputError(path, "cannot read ligand: RDKit could not parse the first molecule")
    return mol


def _check_3d(path: Path, mol: Chem.Mol) -> np.ndarray:
    if mol.GetNumConformers() == 0:
        raise InputError(path, "ligand has no coordinates")
    pos = mol.GetConformer().GetPositions().astype(np.float64)
    if not np.isfinite(pos).all():
        raise InputError(path, "ligand coordinates contain NaN/inf")
    flat = mol.GetNumAtoms() > 1 and bool(np.ptp(pos[:, 2]) < 1e-4)
    if not mol.GetConformer().Is3D() or flat:
        raise InputError(path, "ligand has no 3D coordinates (2D or flat pose)")
    return pos


def read_ligand(path: str | Path) -> LigandInfo:
    """Read the first molecule of an SDF or MOL2 file, keep its heavy atoms.

    Args:
        path: ``.sdf``/``.mol``/``.mol2`` file with 3D coordinates (Å).

    Returns:
        A :class:`LigandInfo` in file order.

    Raises:
        InputError: missing/empty/unparseable file, no 3D coordinates, no heavy atom.
    """
    p = check_file(path)
    mol = _read_mol(p)
    pos = _check_3d(p, mol)
    heavy = np.array([a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1], dtype=np.int64)
    if heavy.size == 0:
        raise InputError(p, "ligand has no heavy atoms")
    remap = {int(old): new for new, old in enumerate(heavy)}
    bonds, orders = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if i in remap and j in remap:
            bonds.append(sorted((remap[i], remap[j])))
            orders.append(b.GetBondTypeAsDouble())
    z = np.array([mol.GetAtomWithIdx(int(i)).GetAtomicNum() for i in heavy], dtype=np.int64)
    names = _atom_names(mol, heavy) or element_names(z)
    title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    return LigandInfo(
        z=z,
        mass=atomic_mass(z),
        bonds=np.array(bonds, dtype=np.int64).reshape(-1, 2),
        bond_order=np.array(orders, dtype=np.float32),
        formal_charge=np.array(
            [mol.GetAtomWithIdx(int(i)).GetFormalCharge() for i in heavy], dtype=np.int64
        ),
        pos=pos[heavy],
        heavy_index=heavy,
        atom_names=names,
        title=title,
        resname=guess_resname(title),
        total_charge=int(Chem.GetFormalCharge(mol)),
    )


def ideal_geometry(path: str | Path) -> np.ndarray | None:
    """The ligand's heavy atoms (N, 3) Å after minimising the whole molecule, hydrogens
    included (added where the file has none), with MMFF94 (UFF when MMFF has no parameters), started from the file's pose.

    Returns ``None`` when neither force field can be set up (e.g. no hydrogens, exotic atoms).
    Only the rigid distances of the result are meant to be used: the minimisation may turn
    torsions. The input file is only read.
    """
    from rdkit.Chem import AllChem

    p = check_file(path)
    mol = _read_mol(p)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    mol = Chem.AddHs(mol, addCoords=True)  # implicit hydrogens placed; heavy indices kept
    RDLogger.DisableLog("rdApp.*")
    try:
        props = AllChem.MMFFGetMoleculeProperties(mol)
        ff = AllChem.MMFFGetMoleculeForceField(mol, props) if props is not None else None
        if ff is None and AllChem.UFFHasAllMoleculeParams(mol):
            ff = AllChem.UFFGetMoleculeForceField(mol)
        if ff is None:
            return None
        ff.Minimize(maxIts=2000)
    except Exception:  # RDKit raises assorted errors on unusual chemistry: no ideal geometry
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    pos = mol.GetConformer().GetPositions()[heavy]
    return pos if np.isfinite(pos).all() else None


def _atom_names(mol: Chem.Mol, heavy: np.ndarray) -> list[str]:
    """Atom names stored by the MOL2 reader (``_TriposAtomName``), or [] when absent."""
    atoms = [mol.GetAtomWithIdx(int(i)) for i in heavy]
    if all(a.HasProp("_TriposAtomName") for a in atoms):
        return [a.GetProp("_TriposAtomName")[:4] for a in atoms]
    return []


def guess_resname(title: str) -> str:
    """``title`` upper-cased if it looks like a residue name (1-3 letters/digits), else ``LIG``."""
    t = title.strip().upper()
    return t if _RESNAME.match(t) else "LIG"
