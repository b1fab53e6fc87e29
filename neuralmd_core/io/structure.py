"""Topologies and trajectories through mdtraj: loading with checks, ligand detection, backbone.

Coordinates leave this module in Å (mdtraj works in nm; the conversion happens here, once).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import mdtraj as md
import numpy as np

from neuralmd_core import keys
from neuralmd_core.errors import InputError
from neuralmd_core.io._files import check_file, short, stdout_to_stderr
from neuralmd_core.io.ligand import LigandInfo

log = logging.getLogger(__name__)

NM_TO_A = 10.0
CAPS = frozenset({"ACE", "NME", "NHE", "NH2"})
ION_ELEMENTS = frozenset(
    {3, 9, 11, 12, 17, 19, 20, 25, 26, 27, 28, 29, 30, 35, 37, 38, 48, 53, 55, 56}
)
MATCH_TOL_A = 0.5  # SDF atom <-> topology atom position tolerance (Å)


@dataclass
class Backbone:
    """The protein backbone at one snapshot.

    Attributes:
        xyz: (R, 3, 3) float32 Å, N/CA/C per residue.
        res_name: (R,) residue names as read; res_number: (R,) int64; chain_id: (R,) str.
        atom_index: (R, 3) int64 topology indices of N, CA, C.
        skipped: number of residues skipped for lacking N, CA or C.
    """

    xyz: np.ndarray
    res_name: np.ndarray
    res_number: np.ndarray
    chain_id: np.ndarray
    atom_index: np.ndarray
    skipped: int = 0

    @property
    def res_type(self) -> np.ndarray:
        """(R,) int64 indices into ``keys.RESIDUE_VOCAB``."""
        return np.array([keys.residue_index(n) for n in self.res_name], dtype=np.int64)


@dataclass
class LigandMatch:
    """Which topology atoms are the ligand's heavy atoms, in storage order.

    Attributes:
        atom_index: (N,) int64 topology atom indices.
        residues: the ligand residues' names.
        method: how it was found (``resname``, ``sdf-position``, ``sdf-elements``, ``single-residue``).
    """

    atom_index: np.ndarray
    residues: list[str]
    method: str


def load_topology(path: str | Path) -> md.Topology:
    """Load a topology file mdtraj reads (PDB, GRO, prmtop, psf, ...)."""
    p = check_file(path)
    try:
        top = md.load_topology(str(p))
    except Exception as exc:
        raise InputError(p, f"cannot read topology: {short(exc)}") from exc
    if top.n_atoms == 0:
        raise InputError(p, "topology contains no atoms")
    return top


def _dcd_declared_frames(path: Path) -> int | None:
    """Frame count in a DCD header (NSET), or None when it cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    for order in ("<", ">"):
        if (
            len(head) == 12
            and struct.unpack(order + "i", head[:4])[0] == 84
            and head[4:8] == b"CORD"
        ):
            return int(struct.unpack(order + "i", head[8:12])[0])
    return None


def _trajectory_atoms(path: Path) -> int | None:
    try:
        with stdout_to_stderr(), md.open(str(path)) as fh:
            return int(np.shape(fh.read(n_frames=1)[0])[1])
    except Exception:
        return None


def load_trajectory(topology: md.Topology, path: str | Path, stride: int = 1) -> md.Trajectory:
    """Load a trajectory against ``topology``, checking size, truncation and finiteness.

    Raises:
        InputError: missing/empty/garbage/truncated file, atom-count mismatch, NaN coordinates.
    """
    p = check_file(path)
    try:
        with stdout_to_stderr():
            traj = md.load(str(p), top=topology, stride=stride)
    except Exception as exc:
        n = _trajectory_atoms(p)
        if n is not None and n != topology.n_atoms:
            msg = f"trajectory has {n} atoms but the topology has {topology.n_atoms}"
            raise InputError(p, msg) from exc
        raise InputError(p, f"cannot read trajectory: {short(exc)}") from exc
    if traj.n_frames == 0:
        raise InputError(p, "trajectory contains no frames")
    if p.suffix.lower() == ".dcd":
        declared = _dcd_declared_frames(p)
        expected = None if not declared else (declared + stride - 1) // stride
        if expected is not None and expected != traj.n_frames:
            raise InputError(
                p, f"truncated: header declares {declared} frames, read {traj.n_frames}"
            )
    bad = ~np.isfinite(traj.xyz).all(axis=(1, 2))
    if bad.any():
        raise InputError(p, f"NaN/inf coordinates in frame {int(np.argmax(bad)) * stride}")
    return traj


def is_ion(res: md.core.topology.Residue) -> bool:
    """A single-atom residue of an ion-forming element."""
    atoms = list(res.atoms)
    return (
        len(atoms) == 1
        and atoms[0].element is not None
        and (atoms[0].element.atomic_number in ION_ELEMENTS)
    )


def heavy_atoms(res: md.core.topology.Residue) -> list[int]:
    """Topology indices of the residue's heavy atoms (no H, no virtual sites)."""
    return [a.index for a in res.atoms if a.element is not None and a.element.atomic_number > 1]


def ligand_candidates(top: md.Topology, resname: str | None = None) -> list:
    """Residues that may be the ligand: by name, else every non-protein/water/ion residue."""
    if resname:
        return [r for r in top.residues if r.name.strip().upper() == resname.strip().upper()]
    return [
        r
        for r in top.residues
        if not r.is_protein
        and not r.is_water
        and not is_ion(r)
        and r.name not in CAPS
        and heavy_atoms(r)
    ]


def _describe(res_list: list) -> str:
    return ", ".join(f"{r.name}{r.resSeq}:{r.chain.chain_id or r.chain.index}" for r in res_list)


def _match_positions(top, xyz0: np.ndarray, lig: LigandInfo, atoms: list[int]) -> np.ndarray | None:
    """Map each SDF heavy atom to a topology atom of the same element within MATCH_TOL_A."""
    if not atoms:
        return None
    idx = np.asarray(atoms)
    z = np.array([top.atom(int(i)).element.atomic_number for i in idx])
    d = np.linalg.norm(lig.pos[:, None, :] - xyz0[idx][None, :, :], axis=-1)
    d[lig.z[:, None] != z[None, :]] = np.inf
    best = d.argmin(1)
    if not np.isfinite(d[np.arange(len(best)), best]).all():
        return None
    if d[np.arange(len(best)), best].max() > MATCH_TOL_A or len(set(best.tolist())) != len(best):
        return None
    return idx[best].astype(np.int64)


def find_ligand(
    top: md.Topology,
    xyz0: np.ndarray,
    source: Path,
    resname: str | None = None,
    ligand: LigandInfo | None = None,
) -> LigandMatch:
    """Find the ligand's heavy atoms in a topology.

    Order of rules: restrict to ``resname`` residues if given; with a ligand file, match its
    heavy atoms by element and snapshot-0 position (Å); otherwise the single candidate residue
    (with a ligand file, its heavy atoms must have the file's element sequence).

    Args:
        top: the topology. xyz0: (n_atoms, 3) Å snapshot-0 coordinates. source: the topology
        path (for messages). resname: ligand residue name. ligand: the ligand file's contents.

    Returns:
        A :class:`LigandMatch`; with a ligand file the atoms are in the file's heavy-atom order.

    Raises:
        InputError: no ligand, or several candidates (listed).
    """
    cands = ligand_candidates(top, resname)
    if resname and not cands:
        others = _describe(ligand_candidates(top)) or "none"
        raise InputError(source, f"no residue named {resname!r} (non-protein residues: {others})")
    if ligand is not None:
        atoms = [i for r in cands for i in heavy_atoms(r)]
        hit = _match_positions(top, xyz0, ligand, atoms)
        if hit is not None:
            names = sorted({top.atom(int(i)).residue.name for i in hit})
            return LigandMatch(hit, names, "sdf-position")
    if not cands:
        raise InputError(source, "no ligand found (no non-protein, non-water, non-ion residue)")
    if len(cands) > 1:
        raise InputError(
            source, f"several candidate ligand residues: {_describe(cands)}; use --ligand-resname"
        )
    atoms = np.array(heavy_atoms(cands[0]), dtype=np.int64)
    if ligand is None:
        return LigandMatch(atoms, [cands[0].name], "resname" if resname else "single-residue")
    z = np.array([top.atom(int(i)).element.atomic_number for i in atoms])
    if z.shape != ligand.z.shape or not (z == ligand.z).all():
        raise InputError(
            source,
            f"ligand residue {_describe(cands)} has {len(z)} heavy atoms that do not match "
            f"the ligand file's {ligand.num_atoms} (element order or positions differ)",
        )
    return LigandMatch(atoms, [cands[0].name], "sdf-elements")


def topology_bonds(top: md.Topology, atom_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bonds among ``atom_index`` from the topology: (B, 2) local pairs and (B,) orders (1 if unknown)."""
    local = {int(a): k for k, a in enumerate(atom_index)}
    pairs, orders = [], []
    for bond in top.bonds:
        i, j = local.get(bond[0].index), local.get(bond[1].index)
        if i is not None and j is not None:
            pairs.append(sorted((i, j)))
            order = getattr(bond, "order", None)
            orders.append(1.5 if bond.type is md.core.topology.Aromatic else float(order or 1))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(orders, dtype=np.float32)


def extract_backbone(
    top: md.Topology, xyz0: np.ndarray, source: Path, exclude: set[int] | None = None
) -> Backbone:
    """N/CA/C of every protein residue (Å) at one snapshot; residues lacking one are skipped.

    Args:
        top: topology. xyz0: (n_atoms, 3) Å. source: path for messages.
        exclude: residue indices never treated as protein (the ligand).

    Raises:
        InputError: no residue with a complete backbone.
    """
    exclude = exclude or set()
    rows, names, numbers, chains, skipped = [], [], [], [], 0
    for res in top.residues:
        if res.index in exclude or res.name in CAPS or res.is_water or is_ion(res):
            continue
        found = {a.name.strip(): a.index for a in res.atoms}
        if not all(k in found for k in ("N", "CA", "C")):
            skipped += int(res.is_protein)
            continue
        rows.append([found["N"], found["CA"], found["C"]])
        names.append(res.name)
        numbers.append(res.resSeq)
        chains.append(res.chain.chain_id or "")
    if not rows:
        raise InputError(source, "no protein residue with a complete N, CA, C backbone")
    if skipped:
        log.warning("%s: skipped %d residues lacking N, CA or C", source, skipped)
    index = np.array(rows, dtype=np.int64)
    return Backbone(
        xyz=xyz0[index].astype(np.float32),
        res_name=np.array(names, dtype=str),
        res_number=np.array(numbers, dtype=np.int64),
        chain_id=np.array(chains, dtype=str),
        atom_index=index,
        skipped=skipped,
    )
