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
        path: the file it was read from (for messages), ``""`` when not read from a file.
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
    path: str = ""

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
        raise InputError(path, _non_finite_atom(path) or _unreadable(path))
    return mol


def _unreadable(path: Path) -> str:
    """Why RDKit found no molecule in ``path``, in the file's own terms."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        return "not a ligand file (binary content)"
    lines = raw.decode("utf-8", errors="replace").splitlines()
    pdb_like = sum(ln.startswith(("ATOM  ", "HETATM")) for ln in lines) > 1
    if path.suffix.lower() == ".mol2":
        if not any(ln.startswith("@<TRIPOS>MOLECULE") for ln in lines):
            return "not a MOL2 file (no @<TRIPOS>MOLECULE record)"
    elif len(lines) < 4 or not ("V2000" in lines[3] or "V3000" in lines[3]):
        if pdb_like:
            return "holds PDB records, not an SDF molecule"
        return "not an SDF file (no V2000/V3000 counts line on line 4)"
    elif not any(ln.startswith("M  END") for ln in lines):
        return "truncated: the first molecule ends before its 'M  END' line"
    return "cannot read ligand: RDKit could not parse or sanitize the first molecule"


def _atom_rows(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(atom number, element, [x, y, z] as text)`` of the first molecule's atoms, read from the
    file's text (V2000/V3000 molfile or Tripos MOL2) without RDKit; [] when it has no such block.
    """
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    if path.suffix.lower() == ".mol2":
        start = next((i for i, ln in enumerate(lines) if ln.startswith("@<TRIPOS>ATOM")), None)
        if start is None:
            return []
        rows = []
        for ln in lines[start + 1 :]:
            if ln.startswith("@<TRIPOS>"):
                break
            f = ln.split()
            if len(f) >= 6:
                rows.append((len(rows) + 1, f[5].split(".")[0], f[2:5]))
        return rows
    if any("V30 BEGIN ATOM" in ln for ln in lines):
        body = [ln.split()[2:] for ln in lines if ln.startswith("M  V30 ") and len(ln.split()) > 6]
        return [(int(f[0]), f[1], f[2:5]) for f in body if f[0].isdigit()]
    if len(lines) < 4 or not lines[3][:3].strip().isdigit():
        return []
    n = int(lines[3][:3])
    return [(k + 1, ln[31:34].strip(), [ln[0:10], ln[10:20], ln[20:30]])
            for k, ln in enumerate(lines[4 : 4 + n])]  # fmt: skip


def _non_finite_atom(path: Path) -> str | None:
    """The problem sentence for the first atom whose coordinate text is NaN/inf, else None."""
    for number, element, xyz in _atom_rows(path):
        for axis, text in zip("xyz", xyz):
            try:
                value = float(text)
            except ValueError:
                continue
            if not np.isfinite(value):
                where = f"atom {number} ({element})"
                return f"{where} has a non-finite {axis} coordinate ({text.strip()})"
    return None


def _check_3d(path: Path, mol: Chem.Mol) -> np.ndarray:
    if mol.GetNumConformers() == 0:
        raise InputError(path, "ligand has no coordinates")
    pos = mol.GetConformer().GetPositions().astype(np.float64)
    if not np.isfinite(pos).all():
        k = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
        symbol = mol.GetAtomWithIdx(k).GetSymbol()
        raise InputError(path, f"atom {k + 1} ({symbol}) has a NaN/inf coordinate")
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
        path=str(p),
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
