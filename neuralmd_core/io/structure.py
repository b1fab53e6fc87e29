"""Topologies and trajectories through mdtraj: loading with checks, ligand detection, backbone.

Coordinates leave this module in Å (mdtraj works in nm; the conversion happens here, once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mdtraj as md
import numpy as np

from neuralmd_core import keys
from neuralmd_core.errors import InputError
from neuralmd_core.io import _formats
from neuralmd_core.io._files import captured_output, check_file, short
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
    """Load a topology file mdtraj reads (PDB, GRO, prmtop, psf, mdtraj's HDF5, ...).

    Raises:
        InputError: missing, empty, a coordinates-only format (XTC, DCD, ...), content of
            another format than the extension says, unreadable, or no atoms.
    """
    p = check_file(path)
    if p.suffix.lower() in _formats.NO_TOPOLOGY:
        raise InputError(p, f"{p.name} has no topology ({p.suffix} files hold coordinates "
                         "only); give a topology file (PDB, GRO, prmtop, ...)")  # fmt: skip
    problem = _formats.content_problem(p)
    if problem is not None:
        raise InputError(p, problem)
    try:
        with captured_output():
            top = md.load_topology(str(p))
    except Exception as exc:
        fmt = _formats.EXPECTED.get(p.suffix.lower(), (None,))[0]
        what = f"truncated or corrupt {fmt} file" if fmt else "cannot read topology"
        raise InputError(p, f"{what}: {short(exc)}") from exc
    if top.n_atoms == 0:
        raise InputError(p, "topology contains no atoms")
    return top


def _dcd_declared_frames(path: Path) -> int | None:
    """Frame count in a DCD header (NSET), or None when it cannot be read."""
    header = _formats.read_dcd_header(path)
    return None if header is None else header.nset


#: formats whose mdtraj file object reads ``(xyz, ...)`` frame by frame
_FRAME_READERS = frozenset({".xtc", ".trr", ".dcd", ".nc", ".ncdf", ".netcdf"})


def _trajectory_atoms(path: Path) -> int | None:
    """Atoms per frame of a trajectory file (XTC/TRR/DCD/NetCDF: its first frame; PDB/HDF5:
    its own topology), or None when it cannot be read."""
    try:
        if Path(path).suffix.lower() in (".pdb", ".h5", ".hdf5"):
            with captured_output():
                return int(md.load_topology(str(path)).n_atoms)
        if Path(path).suffix.lower() not in _FRAME_READERS:
            return None
        with captured_output(), md.open(str(path)) as fh:
            return int(np.shape(fh.read(n_frames=1)[0])[1])
    except Exception:
        return None


def trajectory_atoms(path: str | Path) -> int | None:
    """Atoms per frame of a trajectory file (XTC, TRR, DCD, NetCDF, PDB, HDF5), else None."""
    return _trajectory_atoms(Path(path))


def _readable_frames(path: Path) -> int | None:
    """How many whole frames can be read from the start of an XTC/TRR/DCD/NetCDF file."""
    if path.suffix.lower() not in _FRAME_READERS:
        return None
    count = 0
    try:
        with captured_output(), md.open(str(path)) as fh:
            while len(fh.read(n_frames=1)[0]):
                count += 1
    except Exception:
        pass
    return count


def _read_error(p: Path, topology: md.Topology, exc: Exception) -> InputError:
    """The one-line InputError for a trajectory mdtraj failed to read."""
    n = _trajectory_atoms(p)
    if n is not None and n != topology.n_atoms:
        return InputError(p, f"trajectory has {n} atoms but the topology has {topology.n_atoms}")
    fmt = _formats.EXPECTED.get(p.suffix.lower(), (None,))[0]
    if fmt is None:
        return InputError(p, f"cannot read trajectory: {short(exc)}")
    good = _readable_frames(p)
    if good is None:
        return InputError(p, f"truncated or corrupt {fmt} file (it cannot be read)")
    if good == 0:
        return InputError(p, f"truncated or corrupt {fmt} file: no frame can be read")
    return InputError(
        p, f"truncated or corrupt {fmt} file: only the first {good} frames can be read"
    )


def _dcd_checks(p: Path, traj: md.Trajectory, stride: int) -> None:
    """A DCD's frame count against its header (truncation), and its times from the header."""
    header = _formats.read_dcd_header(p)
    if header is None:
        return
    if header.nset:
        expected = (header.nset + stride - 1) // stride
        if expected != traj.n_frames:
            raise InputError(p, f"truncated DCD file: the header declares {header.nset} "
                             f"frames, only {traj.n_frames * stride} can be read")  # fmt: skip
    if header.has_times():
        traj.time = header.times_ps(traj.n_frames, stride)


def load_trajectory(topology: md.Topology, path: str | Path, stride: int = 1) -> md.Trajectory:
    """Load a trajectory against ``topology``, checking content, size, truncation, finiteness.

    What the C readers print is captured and replaced by one message. DCD frame times come
    from the header (ISTART, NSAVC, DELTA) when it states a time step, else they are the frame
    numbers.

    Raises:
        InputError: missing/empty/garbage/truncated file, content of another format than the
            extension says, atom-count mismatch, NaN coordinates.
    """
    p = check_file(path)
    problem = _formats.content_problem(p)
    if problem is not None:
        raise InputError(p, problem)
    try:
        with captured_output():
            traj = md.load(str(p), top=topology, stride=stride)
    except Exception as exc:
        raise _read_error(p, topology, exc) from exc
    if traj.n_frames == 0:
        raise InputError(p, "trajectory contains no frames")
    if p.suffix.lower() == ".dcd":
        _dcd_checks(p, traj, stride)
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


def chain_label(res: md.core.topology.Residue) -> str:
    """A residue's chain as users name it: the PDB chain ID, else the chain's index."""
    return res.chain.chain_id or str(res.chain.index)


def ligand_candidates(
    top: md.Topology,
    resname: str | None = None,
    chain: str | None = None,
    resid: int | None = None,
) -> list:
    """Residues that may be the ligand: by name, else every non-protein/water/ion residue;
    narrowed to the chain ID ``chain`` and the residue number ``resid`` when they are given."""
    if resname:
        cands = [r for r in top.residues if r.name.strip().upper() == resname.strip().upper()]
    else:
        cands = [r for r in top.residues
                 if not r.is_protein and not r.is_water and not is_ion(r) and r.name not in CAPS
                 and heavy_atoms(r)]  # fmt: skip
    if chain is not None:
        cands = [r for r in cands if chain_label(r) == str(chain).strip()]
    if resid is not None:
        cands = [r for r in cands if r.resSeq == int(resid)]
    return cands


def describe_residues(res_list: list) -> str:
    """``TMP105 (chain A, resid 105), ...``: residues as the ligand options select them."""
    return ", ".join(f"{r.name}{r.resSeq} (chain {chain_label(r)}, resid {r.resSeq})"
                     for r in res_list)  # fmt: skip


#: how the ligand options are named in every message that asks the user to choose
CHOOSE_LIGAND = "choose one with --ligand-resname, --ligand-chain or --ligand-resid"


def no_ligand_residue(
    top: md.Topology, source: Path, resname: str | None, chain: str | None, resid: int | None
) -> InputError:
    """The error for ligand options that select no residue, listing the non-protein ones."""
    others = describe_residues(ligand_candidates(top)) or "none"
    if chain is None and resid is None:
        return InputError(source, f"no residue named {resname!r} (non-protein residues: {others})")
    wanted = [f"{flag} {value}" for flag, value in (("--ligand-resname", resname),
              ("--ligand-chain", chain), ("--ligand-resid", resid)) if value is not None]  # fmt: skip
    return InputError(source, f"no residue matches {' '.join(wanted)} (non-protein residues: "
                      f"{others})")  # fmt: skip


def match_positions(top, xyz0: np.ndarray, lig: LigandInfo, atoms: list[int]) -> np.ndarray | None:
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


def pose_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """RMSD and largest per-atom distance (Å) between two (N, 3) Å poses in the same atom order."""
    d = np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)
    return float(np.sqrt((d**2).mean())), float(d.max())


def find_ligand(
    top: md.Topology,
    xyz0: np.ndarray,
    source: Path,
    resname: str | None = None,
    ligand: LigandInfo | None = None,
    chain: str | None = None,
    resid: int | None = None,
) -> LigandMatch:
    """Find the ligand's heavy atoms in a topology.

    Order of rules: restrict to ``resname`` residues (and to ``chain``/``resid``) if given; with a
    ligand file, match its heavy atoms by element and snapshot-0 position (Å); otherwise the
    single candidate residue (with a ligand file, its heavy atoms must have the file's element
    sequence; a warning names both files when its pose is elsewhere).

    Args:
        top: the topology. xyz0: (n_atoms, 3) Å snapshot-0 coordinates. source: the topology
        path (for messages). resname: ligand residue name. ligand: the ligand file's contents.
        chain: chain ID of the ligand residue. resid: residue number of the ligand residue.

    Returns:
        A :class:`LigandMatch`; with a ligand file the atoms are in the file's heavy-atom order.

    Raises:
        InputError: no ligand, or several candidates (listed with chain and residue number).
    """
    cands = ligand_candidates(top, resname, chain, resid)
    if (resname or chain is not None or resid is not None) and not cands:
        raise no_ligand_residue(top, source, resname, chain, resid)
    if ligand is not None:
        atoms = [i for r in cands for i in heavy_atoms(r)]
        hit = match_positions(top, xyz0, ligand, atoms)
        if hit is not None:
            names = sorted({top.atom(int(i)).residue.name for i in hit})
            return LigandMatch(hit, names, "sdf-position")
    if not cands:
        raise InputError(source, "no ligand found (no non-protein, non-water, non-ion residue)")
    if len(cands) > 1:
        raise InputError(source, f"several candidate ligand residues: {describe_residues(cands)}; "
                         f"{CHOOSE_LIGAND}")  # fmt: skip
    atoms = np.array(heavy_atoms(cands[0]), dtype=np.int64)
    how = "resname" if resname or chain is not None or resid is not None else "single-residue"
    if ligand is None:
        return LigandMatch(atoms, [cands[0].name], how)
    z = np.array([top.atom(int(i)).element.atomic_number for i in atoms])
    if z.shape != ligand.z.shape or not (z == ligand.z).all():
        raise InputError(
            source,
            f"ligand residue {describe_residues(cands)} has {len(z)} heavy atoms that do not match "
            f"the ligand file's {ligand.num_atoms} (element order or positions differ)",
        )
    rmsd, worst = pose_difference(ligand.pos, xyz0[atoms])
    if worst > MATCH_TOL_A:
        log.warning("%s: matched to %s of %s by element order, but its pose differs (RMSD "
                    "%.2f A, largest shift %.2f A); the topology's coordinates are used", ligand.path
                    or "the ligand file", describe_residues(cands), source, rmsd, worst)  # fmt: skip
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
