"""MISATO ``MD.hdf5`` (and files in its layout), read one complex at a time.

Layout (see ``docs/data-format.md`` and the MISATO format notes): one group per upper-case PDB
ID with ``atoms_type`` (Amber type codes), ``atoms_residue`` (residue-name codes, 0 = ligand),
``atoms_number`` (atomic numbers), ``molecules_begin_atom_index`` and
``trajectory_coordinates`` (T, N, 3) Å; optional ``frames_interaction_energy`` (T,) kcal/mol.
Residues and atom names are recovered with ff14SB templates (:mod:`._templates`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

from neuralmd_core.errors import InputError
from neuralmd_core.io._files import check_file, short
from neuralmd_core.io._pbc import max_centroid_jump, max_consecutive_jump
from neuralmd_core.io._templates import Templates, split_chains, templates
from neuralmd_core.io.ligand import atomic_mass, element_names

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_PS = 80.0  # nominal: 100 snapshots over the last 8 ns of 10 ns NVT
FORCE_FIELD = "Amber ff14SB (protein) + GAFF2/AM1-BCC (ligand), TIP3P (MISATO)"
CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
REQUIRED = ("atoms_type", "atoms_residue", "atoms_number", "molecules_begin_atom_index")


class SkipRecord(Exception):
    """A record that is valid MISATO data but not usable here (e.g. a peptide ligand)."""


@dataclass
class MisatoComplex:
    """One MISATO complex in library units.

    Attributes:
        pdb_id: upper-case ID. backbone: (R, 3, 3) float32 Å (snapshot 0).
        res_name: (R,) str Amber residue names. res_number: (R,) int64 (1-based, sequential).
        chain_id: (R,) str (one letter per chain piece). lig_z: (N,) int64.
        lig_mass: (N,) float32 amu. lig_bonds: (B, 2) int64. lig_bond_order: (B,) float32.
        lig_pos: (T, N, 3) float32 Å. energy: (T,) float64 kcal/mol or None.
        lig_atom_names: N names. provenance: JSON-serialisable notes.
    """

    pdb_id: str
    backbone: np.ndarray
    res_name: np.ndarray
    res_number: np.ndarray
    chain_id: np.ndarray
    lig_z: np.ndarray
    lig_mass: np.ndarray
    lig_bonds: np.ndarray
    lig_bond_order: np.ndarray
    lig_pos: np.ndarray
    energy: np.ndarray | None
    lig_atom_names: list[str]
    provenance: dict = field(default_factory=dict)


def segments(mbai: np.ndarray, n_atoms: int) -> list[tuple[int, int]]:
    """Molecule ranges [start, end); accepts start-only lists and lists ending with N."""
    starts = sorted({int(x) for x in mbai if 0 <= int(x) < n_atoms} | {0})
    return list(zip(starts, starts[1:] + [n_atoms]))


def _protein(tm: Templates, path: Path, gid: str, g: h5py.Group, n_prot: int, heavy_only: bool):
    types = g["atoms_type"][:n_prot].tolist()
    codes = g["atoms_residue"][:n_prot].tolist()
    chains = []
    for s, e in segments(g["molecules_begin_atom_index"][:], n_prot):
        residues, failed = tm.parse(types, codes, s, e, heavy_only)
        if failed is not None:
            name = tm.res_name.get(codes[failed], f"code {codes[failed]}")
            raise InputError(
                path, f"{gid}: residue {name} at atom {failed} matches no ff14SB template"
            )
        chains += split_chains(residues)
    rows, names, chain_ids = [], [], []
    for c, chain in enumerate(chains):
        for res in chain:
            if res.backbone is None:  # ACE caps
                continue
            rows.append([res.start + k for k in res.backbone])
            names.append(res.name)
            chain_ids.append(CHAIN_LETTERS[c % len(CHAIN_LETTERS)])
    if not rows:
        raise InputError(path, f"{gid}: no protein residue with a complete N, CA, C backbone")
    return np.array(rows, dtype=np.int64), names, chain_ids, len(chains)


def perceive_bonds(z: np.ndarray, pos: np.ndarray, heavy: np.ndarray):
    """Ligand bonds from 3D coordinates (all atoms incl. H) with RDKit.

    Bond orders come from ``DetermineBonds`` at total charge 0, which is only right for
    neutral ligands; otherwise only connectivity is kept and orders are set to 1.

    Returns:
        (bonds (B, 2) over heavy-atom indices, orders (B,), method string).
    """
    RDLogger.DisableLog("rdApp.*")
    rw = Chem.RWMol()
    conf = Chem.Conformer(len(z))
    for i, (a, p) in enumerate(zip(z, pos)):
        atom = Chem.Atom(int(a))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
        conf.SetAtomPosition(i, Point3D(*map(float, p)))
    rw.AddConformer(conf, assignId=True)
    method = "DetermineBonds(charge=0)"
    try:
        mol = Chem.Mol(rw)
        if not (z == 1).any():
            raise ValueError("no hydrogens")
        rdDetermineBonds.DetermineBonds(mol, charge=0)
        Chem.SanitizeMol(mol)
    except Exception:
        mol = Chem.Mol(rw)
        rdDetermineBonds.DetermineConnectivity(mol)
        method = "DetermineConnectivity (orders unknown, set to 1)"
    finally:
        RDLogger.EnableLog("rdApp.*")
    remap = {int(o): k for k, o in enumerate(heavy)}
    pairs, orders = [], []
    for b in mol.GetBonds():
        i, j = remap.get(b.GetBeginAtomIdx()), remap.get(b.GetEndAtomIdx())
        if i is not None and j is not None:
            pairs.append(sorted((i, j)))
            orders.append(b.GetBondTypeAsDouble() if method.startswith("DetermineBonds") else 1.0)
    return np.array(pairs, np.int64).reshape(-1, 2), np.array(orders, np.float32), method


def _ligand_atoms(tm: Templates, path: Path, gid: str, g: h5py.Group) -> np.ndarray:
    rescodes = g["atoms_residue"][:]
    lig = np.flatnonzero(rescodes == 0)
    if lig.size == 0:
        if gid.upper() in tm.peptides:
            raise SkipRecord(f"{gid}: peptide ligand (no MOL atoms)")
        raise InputError(path, f"{gid}: no ligand (no atom with residue code 0 = MOL)")
    if lig[-1] - lig[0] + 1 != lig.size or lig[-1] != rescodes.size - 1:
        raise InputError(path, f"{gid}: ligand atoms are not the last contiguous block")
    return lig


def read_record(path: Path, g: h5py.Group, gid: str, tm: Templates | None = None) -> MisatoComplex:
    """Read one complex group.

    Raises:
        InputError: missing datasets, no ligand, no trajectory, an unmatched residue, NaN.
        SkipRecord: a peptide complex.
    """
    tm = tm or templates()
    missing = [k for k in REQUIRED if k not in g]
    if missing:
        raise InputError(path, f"{gid}: not a MISATO record (missing {', '.join(missing)})")
    if "trajectory_coordinates" not in g:
        raise InputError(path, f"{gid}: no trajectory (no trajectory_coordinates dataset)")
    lig = _ligand_atoms(tm, path, gid, g)
    lo, n = int(lig[0]), int(g["atoms_type"].shape[0])
    traj = g["trajectory_coordinates"]
    if traj.ndim != 3 or traj.shape[1:] != (n, 3) or traj.shape[0] == 0:
        raise InputError(
            path, f"{gid}: trajectory_coordinates shape {traj.shape}, expected (T, {n}, 3)"
        )
    number = g["atoms_number"][:]
    heavy_only = not bool((number[:lo] == 1).any())
    bb_index, names, chain_ids, n_chains = _protein(tm, path, gid, g, lo, heavy_only)
    lig_all = traj[:, lo:, :]
    prot0 = traj[0, :lo, :]
    if not (np.isfinite(prot0).all() and np.isfinite(lig_all).all()):
        raise InputError(path, f"{gid}: trajectory_coordinates contain NaN/inf")
    lig_number = number[lo:]
    heavy = np.flatnonzero(lig_number > 1)
    bonds, orders, method = perceive_bonds(lig_number, lig_all[0], heavy)
    lig_pos = lig_all[:, heavy, :].astype(np.float32)
    energy = None
    if "frames_interaction_energy" in g and g["frames_interaction_energy"].shape == (
        traj.shape[0],
    ):
        energy = g["frames_interaction_energy"][:].astype(np.float64)
    jump = max_consecutive_jump(lig_pos)
    if max_centroid_jump(lig_pos) > 5.0:
        log.warning(
            "%s: %s: ligand centre jumps > 5 A between snapshots (no box stored)", path, gid
        )
    z = lig_number[heavy].astype(np.int64)
    return MisatoComplex(
        pdb_id=gid.upper(),
        backbone=prot0[bb_index].astype(np.float32),
        res_name=np.array(names, dtype=str),
        res_number=np.arange(1, len(names) + 1, dtype=np.int64),
        chain_id=np.array(chain_ids, dtype=str),
        lig_z=z,
        lig_mass=atomic_mass(z),
        lig_bonds=bonds,
        lig_bond_order=orders,
        lig_pos=lig_pos,
        energy=energy,
        lig_atom_names=element_names(z),
        provenance={
            "heavy_only_input": heavy_only,
            "chains": n_chains,
            "bond_perception": method,
            "max_ligand_jump_A": round(jump, 3),
        },
    )


def _h5_error(path: Path, exc: OSError) -> InputError:
    """Why h5py could not open ``path``, in our words (truncated, or not HDF5 at all)."""
    with open(path, "rb") as fh:
        signed = fh.read(8) == b"\x89HDF\r\n\x1a\n"
    if signed and "truncated" in str(exc):
        return InputError(path, f"truncated HDF5 file ({path.stat().st_size} bytes)")
    if signed:
        return InputError(path, f"corrupt HDF5 file: {short(exc)}")
    return InputError(path, "not an HDF5 file (expected MISATO's MD.hdf5 layout)")


def list_ids(path: str | Path) -> list[str]:
    """Group names of a MISATO-layout file, in file order."""
    p = check_file(path)
    try:
        with h5py.File(p, "r") as f:
            return list(f.keys())
    except OSError as exc:
        raise _h5_error(p, exc) from exc


_WORKER: dict = {}
WINDOW = 32  # records in flight at most (bounds memory whatever the file size)


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise _h5_error(path, exc) from exc


def _read_safe(f: h5py.File, path: Path, key: str):
    """``read_record`` with errors returned as picklable tuples."""
    try:
        return read_record(path, f[key], key)
    except InputError as exc:
        return ("input", exc.path, exc.problem)
    except SkipRecord as exc:
        return ("skip", str(exc))
    except (OSError, KeyError, ValueError) as exc:
        return ("input", str(path), f"{key}: unreadable record: {short(exc)}")


def _worker_init(path: str) -> None:
    _WORKER["path"] = Path(path)
    _WORKER["file"] = h5py.File(path, "r")


def _worker_read(key: str):
    return _read_safe(_WORKER["file"], _WORKER["path"], key)


def _as_result(value):
    if isinstance(value, tuple) and value and value[0] == "input":
        return InputError(value[1], value[2])
    if isinstance(value, tuple) and value and value[0] == "skip":
        return SkipRecord(value[1])
    return value


def _resolve(p: Path, ids: list[str]) -> list[tuple[str, str | None]]:
    with _open(p) as f:
        by_upper = {k.upper(): k for k in f.keys() if isinstance(f[k], h5py.Group)}
    return [(gid, by_upper.get(gid.upper())) for gid in ids]


def iter_records(
    path: str | Path, ids: list[str], workers: int = 1
) -> Iterator[tuple[str, MisatoComplex | Exception]]:
    """Yield ``(id, complex)`` or ``(id, error)`` for each requested group, in order.

    IDs are matched case-insensitively. With ``workers > 1`` records are read by a process
    pool (each worker opens the file read-only); at most ``WINDOW`` records are in flight, so
    memory does not grow with the file.
    """
    p = check_file(path)
    wanted = _resolve(p, ids)
    keys = [k for _, k in wanted if k is not None]
    if workers > 1 and len(keys) > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        pool = ctx.Pool(min(workers, len(keys)), _worker_init, (str(p),))
        read = lambda window: pool.imap(_worker_read, window, chunksize=2)  # noqa: E731
    else:
        pool, f = None, _open(p)
        read = lambda window: (_read_safe(f, p, k) for k in window)  # noqa: E731
    try:
        for start in range(0, len(wanted), WINDOW):
            window = wanted[start : start + WINDOW]
            results = iter(read([k for _, k in window if k is not None]))
            for gid, key in window:
                if key is None:
                    yield gid, InputError(p, f"{gid}: no such record")
                else:
                    yield key, _as_result(next(results))
    finally:
        if pool is not None:
            pool.terminate()
        else:
            f.close()
