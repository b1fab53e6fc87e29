"""Trajectories out (chosen by extension, through mdtraj) and ligand trajectories back in.

The library works in Å and ps; mdtraj works in nm. This module is the only place that converts.

Output layout of :func:`write_trajectory` (``traj`` = the stem of the requested path):

* ``traj.xtc`` / ``.dcd`` / ``.trr`` / ``.nc`` / ``.h5`` — the trajectory, and ``traj.pdb`` next
  to it, the topology (protein + ligand at the first written snapshot, ligand bonds as CONECT);
* ``traj.pdb`` — a multi-model PDB trajectory, and ``traj.top.pdb`` the topology.

The two files are written to temporary names beside the targets and renamed together
(``io/_atomic.py``): they appear together or not at all. Times (ps) are stored by XTC, TRR,
NetCDF and HDF5 per frame, and by DCD as its header's first step and time step (ISTART, NSAVC,
DELTA, read back by MDAnalysis and by :func:`read_ligand_trajectory`); PDB carries no times
(readers number the frames 0, 1, 2, ...).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import mdtraj as md
import numpy as np

from neuralmd_core.errors import InputError
from neuralmd_core.io import _formats, structure
from neuralmd_core.io._atomic import atomic_outputs
from neuralmd_core.io._files import captured_output

log = logging.getLogger(__name__)

NM_PER_A = 0.1

#: extension → whether the format stores frame times (DCD: a first time and a uniform interval)
TRAJECTORY_FORMATS: dict[str, bool] = {
    ".xtc": True,
    ".dcd": True,
    ".trr": True,
    ".nc": True,
    ".h5": True,
    ".pdb": False,
}

#: covalent radii (Å) used to infer ligand bonds when the topology has none
_COVALENT_RADIUS_A = {1: 0.31, 5: 0.84, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57, 14: 1.11, 15: 1.07,
                      16: 1.05, 17: 1.02, 34: 1.20, 35: 1.20, 53: 1.39}  # fmt: skip


def topology_path_for(path: str | Path) -> Path:
    """The topology PDB written next to trajectory ``path`` (``traj.pdb``, or ``traj.top.pdb``)."""
    p = Path(path)
    return p.with_suffix(".top.pdb") if p.suffix.lower() == ".pdb" else p.with_suffix(".pdb")


def _element(value) -> md.element.Element:
    if isinstance(value, (int, np.integer)):
        return md.element.Element.getByAtomicNumber(int(value))
    return md.element.get_by_symbol(str(value).strip().capitalize())


def build_complex_topology(
    protein_top: md.Topology,
    lig_elements: Sequence,
    lig_atom_names: Sequence[str],
    lig_resname: str = "LIG",
    bonds=None,
) -> md.Topology:
    """Protein topology (unchanged) plus one ligand residue in a new chain.

    Args:
        protein_top: the protein (any atoms, hydrogens allowed).
        lig_elements: (N,) atomic numbers or element symbols.
        lig_atom_names: (N,) atom names.
        lig_resname: ligand residue name (at most 3 characters survive in a PDB).
        bonds: (B, 2) ligand-atom index pairs, or ``None``.

    Returns:
        A new ``mdtraj.Topology`` with ``P + N`` atoms.
    """
    top = protein_top.copy()
    used = {c.chain_id for c in top.chains}
    free = [c for c in "LMNOPQRSTUVWXYZABCDEFGHIJK" if c not in used]
    chain = top.add_chain(chain_id=free[0] if free else None)
    res_seq = max([r.resSeq for r in top.residues], default=0) + 1
    residue = top.add_residue(lig_resname, chain, resSeq=res_seq)
    atoms = [
        top.add_atom(str(name), _element(el), residue)
        for name, el in zip(lig_atom_names, lig_elements, strict=True)
    ]
    for i, j in np.asarray([] if bonds is None else bonds, dtype=np.int64).reshape(-1, 2):
        top.add_bond(atoms[int(i)], atoms[int(j)])
    return top


def _save(traj: md.Trajectory, path: Path, time_ps: np.ndarray) -> None:
    """Save through mdtraj (C-library output captured); DCD headers get the frame times."""
    with captured_output():
        traj.save(str(path))
    if path.suffix.lower() == ".dcd":
        _formats.write_dcd_times(path, time_ps)


#: the coordinate range a PDB's 8.3f fields hold, Å
PDB_RANGE_A = (-999.999, 9999.999)


def _check_values(path: Path, prot: np.ndarray, lig: np.ndarray, times: np.ndarray) -> None:
    """Refuse NaN/inf, and coordinates a PDB cannot hold (the topology PDB; a PDB trajectory)."""
    if not (np.isfinite(prot).all() and np.isfinite(lig).all() and np.isfinite(times).all()):
        bad = np.flatnonzero(~np.isfinite(lig).all(axis=(1, 2)))
        where = f" (snapshot {int(bad[0])})" if bad.size else ""
        raise InputError(path, f"NaN/inf coordinates or times{where}; nothing written")
    in_pdb = [prot, lig if path.suffix.lower() == ".pdb" else lig[:1]]
    lo, hi = PDB_RANGE_A
    if any(((x < lo) | (x > hi)).any() for x in in_pdb):
        raise InputError(path, f"coordinates outside {lo:g}..{hi:g} Å do not fit a PDB file "
                         "(the topology PDB); nothing written")  # fmt: skip


def write_trajectory(
    path: str | Path,
    protein_top: md.Topology,
    protein_xyz_A,
    lig_elements: Sequence,
    lig_atom_names: Sequence[str],
    lig_resname: str,
    lig_pos_A,
    time_ps,
    bonds=None,
) -> list[Path]:
    """Write a predicted complex trajectory (rigid protein, moving ligand) and its topology PDB.

    Args:
        path: output trajectory; the extension picks the format (see ``TRAJECTORY_FORMATS``).
        protein_top: protein topology (P atoms), written unchanged.
        protein_xyz_A: (P, 3) protein coordinates, Å (the same in every frame).
        lig_elements: (N,) ligand atomic numbers or element symbols.
        lig_atom_names: (N,) ligand atom names.
        lig_resname: ligand residue name.
        lig_pos_A: (S, N, 3) ligand positions, Å.
        time_ps: (S,) frame times, ps.
        bonds: (B, 2) ligand bonds (written as CONECT records), optional.

    Returns:
        ``[trajectory_path, topology_path]``.

    Raises:
        InputError: unknown extension, missing folder, inconsistent shapes, NaN/inf values, or
            coordinates a PDB cannot hold (nothing is written). The trajectory and its topology
            PDB appear together or not at all, with the permissions ``open()`` would give.
    """
    path = Path(path)
    if path.suffix.lower() not in TRAJECTORY_FORMATS:
        raise InputError(path, f"unknown trajectory extension {path.suffix!r}; "
                         f"use one of {' '.join(TRAJECTORY_FORMATS)}")  # fmt: skip
    if not path.parent.is_dir():
        raise InputError(path, "output folder does not exist")
    if path.suffix.lower() == ".h5" and importlib.util.find_spec("tables") is None:
        raise InputError(path, ".h5 output needs the 'tables' package (pip install tables)")
    prot = np.asarray(protein_xyz_A, dtype=np.float64).reshape(-1, 3)
    lig = np.asarray(lig_pos_A, dtype=np.float64)
    times = np.asarray(time_ps, dtype=np.float64).reshape(-1)
    if prot.shape[0] != protein_top.n_atoms:
        raise InputError(
            path, f"{prot.shape[0]} protein coordinates for {protein_top.n_atoms} atoms"
        )
    if lig.ndim != 3 or lig.shape[1:] != (len(lig_atom_names), 3) or times.shape[0] != lig.shape[0]:
        raise InputError(path, f"ligand positions {lig.shape} do not match "
                         f"{len(lig_atom_names)} atoms and {times.shape[0]} times")  # fmt: skip
    _check_values(path, prot, lig, times)
    top = build_complex_topology(protein_top, lig_elements, lig_atom_names, lig_resname, bonds)
    xyz = np.concatenate([np.broadcast_to(prot, (lig.shape[0],) + prot.shape), lig], axis=1)
    traj = md.Trajectory((xyz * NM_PER_A).astype(np.float32), top, time=times)
    top_path = topology_path_for(path)
    with atomic_outputs([path, top_path]) as (tmp_traj, tmp_top):
        _save(traj, tmp_traj, times)
        _save(traj[0], tmp_top, times[:1])
    return [path, top_path]


class LigandTrajectory(NamedTuple):
    """A ligand read from a trajectory file (heavy atoms only), library units."""

    lig_pos_A: np.ndarray  # (T, N, 3) Å
    time_ps: np.ndarray  # (T,) ps (frame numbers for files without times: PDB, untimed DCD)
    lig_z: np.ndarray  # (N,) int64
    lig_names: list[str]  # (N,)
    bonds: np.ndarray  # (B, 2) int64, heavy-atom indices, i < j
    protein_heavy_xyz_A: np.ndarray  # (P, 3) Å, non-ligand non-solvent heavy atoms of the topology
    protein_heavy_res: np.ndarray  # (P,) int64, residue index (in the topology) of each of them


def infer_bonds(pos_A: np.ndarray, z: np.ndarray, tolerance_A: float = 0.45) -> np.ndarray:
    """Bonds (B, 2) from one conformation (N, 3) Å: d_ij < r_cov(i) + r_cov(j) + tolerance."""
    r = np.array([_COVALENT_RADIUS_A.get(int(v), 0.8) for v in z])
    d = np.linalg.norm(pos_A[:, None] - pos_A[None], axis=-1)
    i, j = np.nonzero(np.triu(d < r[:, None] + r[None] + tolerance_A, k=1))
    return np.stack([i, j], 1).astype(np.int64)


def _protein_heavy_xyz(
    t: md.Trajectory, top_path: Path, ligand: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Heavy atoms of everything but the ligand, water and ions: positions (P, 3) Å at the
    topology's coordinates when the topology file has them (a PDB), else at the trajectory's
    first frame, and the topology residue index of each (P,)."""
    idx = [a.index for a in t.topology.atoms
           if a.index not in ligand and not a.residue.is_water and not structure.is_ion(a.residue)
           and a.element is not None and a.element.atomic_number > 1]  # fmt: skip
    xyz = t.xyz[0]
    if top_path.suffix.lower() in (".pdb", ".gro", ".cif", ".pdbx"):
        try:
            with captured_output():
                ref = md.load(str(top_path))
            if ref.n_atoms == t.n_atoms:
                xyz = ref.xyz[0]
        except Exception:  # unreadable coordinates: fall back to frame 0
            pass
    res = np.array([t.topology.atom(i).residue.index for i in idx], dtype=np.int64)
    return np.asarray(xyz[idx], dtype=np.float64) / NM_PER_A, res


def read_ligand_trajectory(
    traj: str | Path, top: str | Path | None, ligand_resname: str | None = None
) -> LigandTrajectory:
    """Read the ligand heavy atoms of a trajectory file (any format mdtraj reads).

    Args:
        traj: trajectory file.
        top: topology file (PDB or any mdtraj topology); ``None`` for a PDB or HDF5 trajectory,
            which carries its own.
        ligand_resname: the ligand's residue name; ``None`` finds the single non-protein,
            non-water, non-ion residue.

    Returns:
        ``LigandTrajectory(lig_pos_A (T,N,3), time_ps (T,), lig_z (N,), lig_names, bonds (B,2),
        protein_heavy_xyz_A (P,3), protein_heavy_res (P,))``. Bonds come from the topology
        (CONECT); if it has none they are inferred from covalent radii on the mean structure.

    Raises:
        InputError: missing or unreadable file, or no / ambiguous ligand.
    """
    top_path = Path(traj if top is None else top)
    t = structure.load_trajectory(structure.load_topology(top_path), traj)
    match = structure.find_ligand(t.topology, t.xyz[0] / NM_PER_A, top_path, ligand_resname)
    heavy = match.atom_index
    pos = np.asarray(t.xyz[:, heavy], dtype=np.float64) / NM_PER_A
    z = np.array([t.topology.atom(int(i)).element.atomic_number for i in heavy], dtype=np.int64)
    bonds, _ = structure.topology_bonds(t.topology, heavy)
    bonds = np.unique(bonds, axis=0) if bonds.shape[0] else infer_bonds(pos.mean(0), z)
    protein_xyz, protein_res = _protein_heavy_xyz(t, top_path, set(heavy.tolist()))
    return LigandTrajectory(
        lig_pos_A=pos,
        time_ps=np.asarray(t.time, dtype=np.float64),
        lig_z=z,
        lig_names=[t.topology.atom(int(i)).name for i in heavy],
        bonds=bonds,
        protein_heavy_xyz_A=protein_xyz,
        protein_heavy_res=protein_res,
    )


def ligand_resname_of(top: str | Path, ligand_resname: str | None = None) -> str:
    """The residue name of the ligand that :func:`read_ligand_trajectory` would pick."""
    t = structure.load_topology(top)
    cands = structure.ligand_candidates(t, ligand_resname)
    return cands[0].name if cands else (ligand_resname or "LIG")


def _own_topology(traj: Path) -> Path:
    """The topology of ``traj`` when none is named: the PDB beside it, else the file itself."""
    beside = topology_path_for(traj)
    if beside.is_file() and beside != traj:
        return beside
    if traj.suffix.lower() in _formats.NO_TOPOLOGY:
        raise InputError(traj, f"{traj.name} has no topology; give --top TOPOLOGY.pdb "
                         f"(or keep {beside.name} next to it)")  # fmt: skip
    return traj


@functools.lru_cache(maxsize=32)
def _atom_count(path: str, mtime_ns: int, size: int) -> int:
    """Atoms of a topology file (cached by path, modification time and size)."""
    return structure.load_topology(path).n_atoms


def _atoms_of(path: Path) -> int:
    st = path.stat() if path.is_file() else None
    if st is None:
        return structure.load_topology(path).n_atoms  # raises the file's InputError
    return _atom_count(str(path), st.st_mtime_ns, st.st_size)


def _fitting_topology(traj: Path, top: Path) -> Path:
    """``top``, unless it cannot describe ``traj`` (another atom count) and the topology PDB
    beside ``traj`` can: then that one, said on stderr."""
    beside = topology_path_for(traj)
    if beside == traj or not beside.is_file():
        return top
    n = structure.trajectory_atoms(traj)
    if n is None or n == (m := _atoms_of(top)):
        return top
    if _atoms_of(beside) != n:
        return top  # neither fits: reading with the named file reports the mismatch
    log.warning("%s: %s has %d atoms, the trajectory %d: read with %s beside it", traj, top, m,
                n, beside.name)  # fmt: skip
    return beside


def resolve_topologies(
    trajectories: Sequence[str | Path],
    top: str | Path | Sequence[str | Path] | None,
    fallback: bool = True,
) -> list[Path]:
    """One topology per trajectory; a topology that is named wins.

    * ``top`` is ``None``: the topology PDB written next to each trajectory
      (:func:`topology_path_for`), else the trajectory itself when its format has a topology
      (PDB, HDF5); a coordinates-only file (XTC, DCD, ...) with neither is an error.
    * one ``top`` for all: that file for every trajectory it can describe; for a trajectory
      with another atom count that has its own topology PDB beside it (a ``neuralmd rollout``
      output next to the reference MD), that PDB, with a warning — unless ``fallback`` is
      ``False``.
    * one ``top`` per trajectory (two or more): exactly those.

    Raises:
        InputError: a number of topologies that is neither 1 nor one per trajectory, or a
            coordinates-only trajectory without a topology.
    """
    paths = [Path(p) for p in trajectories]
    if top is None:
        return [_own_topology(p) for p in paths]
    tops = [Path(top)] if isinstance(top, (str, Path)) else [Path(t) for t in top]
    if len(tops) == len(paths) and len(paths) > 1:
        return tops
    if len(tops) != 1:
        raise InputError("--top", f"{len(tops)} topologies for {len(paths)} trajectories")
    return [_fitting_topology(p, tops[0]) if fallback else tops[0] for p in paths]


def has_times(path: str | Path) -> bool:
    """Whether the trajectory at ``path`` stores frame times: XTC, TRR, NetCDF, HDF5, and a DCD
    whose header states a time step (mdtraj's own DCD writer leaves a placeholder)."""
    p = Path(path)
    if p.suffix.lower() == ".dcd" and p.is_file():
        header = _formats.read_dcd_header(p)
        return header is not None and header.has_times()
    return TRAJECTORY_FORMATS.get(p.suffix.lower(), False)
