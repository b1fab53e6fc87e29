"""Readers -> :class:`BindingSystem` -> prepared dataset (``neuralmd prepare``)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mdtraj as md
import numpy as np

from neuralmd_core.data.pdb_sdf import system_from_pdb_sdf  # noqa: F401 (re-exported)
from neuralmd_core.data.pocket import pocket_atoms
from neuralmd_core.data.prepare_misato import prepare_from_misato, progress_or_silent
from neuralmd_core.data.store import SUFFIXES, DatasetWriter, open_dataset
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import InputError
from neuralmd_core.io import _pbc, structure
from neuralmd_core.io._tables import ENERGY_TABLE, read_energies, times_next_to
from neuralmd_core.io.ligand import LigandInfo, atomic_mass, read_ligand

log = logging.getLogger(__name__)

TIMED_FORMATS = (".xtc", ".trr", ".h5", ".nc", ".netcdf", ".ncdf")
GENERIC_STEMS = {
    "topology",
    "top",
    "system",
    "complex",
    "structure",
    "conf",
    "start",
    "input",
    "md",
}
REPLICA_DIR = re.compile(r"^(seed|rep|replica|run|r|s)[_-]?\d+$", re.IGNORECASE)


def _system_id(topology: Path, name: str | None) -> str:
    if name:
        return name
    if topology.stem.lower() not in GENERIC_STEMS:
        return topology.stem
    parent = topology.resolve().parent
    return parent.parent.name if REPLICA_DIR.match(parent.name) else parent.name


def _traj_names(system_id: str, trajectories: Sequence[Path]) -> list[str]:
    """``system_id`` plus the replica folder (seed0, rep1...) or the file stem when needed."""
    tags = [
        p.resolve().parent.name if REPLICA_DIR.match(p.resolve().parent.name) else ""
        for p in trajectories
    ]
    names = [f"{system_id}_{t}" if t else system_id for t in tags]
    if len(set(names)) < len(names):
        names = [f"{n}_{p.stem}" for n, p in zip(names, trajectories)]
    if len(set(names)) < len(names):
        names = [f"{n}_{k}" for k, n in enumerate(names)]
    return names


def _times(
    path: Path, traj: md.Trajectory, stride: int, dt_ps: float | None
) -> tuple[np.ndarray, str]:
    n = traj.n_frames
    if dt_ps is not None:
        if dt_ps <= 0:
            raise InputError("--dt-ps", "must be positive")
        return np.arange(n) * dt_ps * stride, "--dt-ps"
    t = np.asarray(traj.time, dtype=np.float64)
    if path.suffix.lower() in TIMED_FORMATS and (n < 2 or (np.diff(t) > 0).all()):
        return t - t[0], f"{path.suffix[1:]} time"
    found = times_next_to(path, n, stride)
    if found is not None:
        return found[0] - found[0][0], found[1]
    log.warning("%s: no snapshot times (use --dt-ps); assuming 1.0 ps per snapshot", path)
    return np.arange(n) * 1.0 * stride, "default 1.0 ps"


def _energies(
    path: Path, energies: Path | None, n: int, stride: int
) -> tuple[np.ndarray | None, str | None]:
    if energies is not None:
        return read_energies(energies, n, stride), str(energies)
    auto = path.parent / ENERGY_TABLE
    if not auto.is_file():
        return None, None
    try:
        return read_energies(auto, n, stride), str(auto)
    except InputError as exc:
        log.warning("ignoring %s", exc)
        return None, None


def _ligand_series(traj_xyz: np.ndarray, idx: np.ndarray, bonds: np.ndarray, boxes, backbone):
    """Ligand (T, N, 3) Å, imaged next to the backbone when ``boxes`` (T, 3, 3) is given."""
    lig = traj_xyz[:, idx, :]
    if boxes is None:
        return lig.astype(np.float32), backbone
    bb = _pbc.whole_backbone(backbone.xyz, backbone.chain_id, boxes[0])
    backbone.xyz = bb
    lig = _pbc.image_ligand(lig, bonds, boxes, bb[:, 1, :])
    return lig.astype(np.float32), backbone


def _one_md(
    top: md.Topology, topo_path: Path, path: Path, lig_file: LigandInfo | None, opts: dict[str, Any]
) -> BindingSystem:
    traj = structure.load_trajectory(top, path, stride=opts["stride"])
    xyz = traj.xyz * structure.NM_TO_A  # (T, n_atoms, 3) Å
    match = structure.find_ligand(top, xyz[0], topo_path, opts["ligand_resname"], lig_file,
                                  chain=opts["ligand_chain"], resid=opts["ligand_resid"])  # fmt: skip
    lig_res = {top.atom(int(i)).residue.index for i in match.atom_index}
    backbone = structure.extract_backbone(top, xyz[0], topo_path, exclude=lig_res)
    if lig_file is not None:
        bonds, orders = lig_file.bonds, lig_file.bond_order
        z, mass, resname = lig_file.z, lig_file.mass, lig_file.resname
    else:
        bonds, orders = structure.topology_bonds(top, match.atom_index)
        z = np.array([top.atom(int(i)).element.atomic_number for i in match.atom_index], np.int64)
        mass, resname = None, match.residues[0]
    if match.method != "sdf-elements" and lig_file is not None:
        resname = match.residues[0] if len(match.residues) == 1 else resname
    boxes = None
    if opts["image"] and traj.unitcell_vectors is not None:
        boxes = traj.unitcell_vectors.astype(np.float64) * structure.NM_TO_A
    lig_pos, backbone = _ligand_series(xyz, match.atom_index, bonds, boxes, backbone)
    jump = _pbc.max_consecutive_jump(lig_pos)
    if _pbc.max_centroid_jump(lig_pos) > 5.0:
        log.warning("%s: ligand centre moves > 5 A between consecutive snapshots", path)
    time_ps, time_src = _times(path, traj, opts["stride"], opts["dt_ps"])
    energy, energy_src = _energies(path, opts["energies"], traj.n_frames, opts["stride"])
    if mass is None:
        mass = atomic_mass(z)
    # side chains are not made whole across a periodic box: there the wall uses the backbone
    pocket = None if boxes is not None else pocket_atoms(top, xyz[0], lig_pos[0], lig_res)
    return BindingSystem(
        name="",
        pocket_xyz=pocket,
        backbone=backbone.xyz.astype(np.float32),
        res_type=backbone.res_type,
        res_name=backbone.res_name,
        res_number=backbone.res_number,
        chain_id=backbone.chain_id,
        lig_z=z,
        lig_mass=mass,
        lig_bonds=bonds,
        lig_bond_order=orders,
        lig_pos=lig_pos,
        time_ps=time_ps.astype(np.float64),
        energy=energy,
        lig_resname=resname,
        lig_atom_names=[top.atom(int(i)).name for i in match.atom_index],
        provenance={
            "source": "md",
            "topology": str(topo_path.resolve()),
            "trajectory": str(path.resolve()),
            "ligand_file": opts["ligand"],
            "ligand_detection": match.method,
            "imaged": boxes is not None,
            "stride": opts["stride"],
            "time_source": time_src,
            "energy_source": energy_src,
            "residues_skipped": backbone.skipped,
            "max_ligand_jump_A": round(jump, 3),
        },
    )


def iter_from_md(
    topology: str | Path,
    trajectories: list,
    ligand: str | Path | None = None,
    ligand_resname: str | None = None,
    image: bool = True,
    name: str | None = None,
    energies: str | Path | None = None,
    stride: int = 1,
    dt_ps: float | None = None,
    *,
    ligand_chain: str | None = None,
    ligand_resid: int | None = None,
) -> Iterator[BindingSystem]:
    """:func:`prepare_from_md` one trajectory at a time (the topology and ligand read once).

    Args:
        topology: any topology mdtraj reads. trajectories: trajectory files (same atoms).
        ligand: SDF/MOL2 of the ligand (bonds, orders; matched to the topology), or None.
        ligand_resname: the ligand's residue name. image: make the ligand whole and unjumped
            next to the protein when the trajectory has a box. name: system id / name prefix.
        energies: per-snapshot energy CSV (unit in the column name); default: the
            ``interaction_energy.csv`` next to each trajectory. stride: keep every k-th frame.
        dt_ps: snapshot spacing of the input (ps); default from the file's times.
        ligand_chain, ligand_resid: pick one copy of the ligand by chain ID and residue
            number when several residues match (``--ligand-chain``, ``--ligand-resid``).
    """
    if not trajectories:
        raise InputError(None, "give at least one trajectory file")
    if stride < 1:
        raise InputError("--stride", "must be at least 1")
    paths = [Path(p) for p in trajectories]
    if energies is not None and len(paths) > 1:
        raise InputError(energies, "--energies needs exactly one trajectory")
    topo_path = Path(topology)
    top = structure.load_topology(topo_path)
    lig_file = read_ligand(ligand) if ligand is not None else None
    opts = dict(
        stride=stride, ligand_resname=ligand_resname, image=image, dt_ps=dt_ps,
        ligand_chain=ligand_chain, ligand_resid=ligand_resid,
        energies=None if energies is None else Path(energies),
        ligand=None if ligand is None else str(Path(ligand).resolve()),
    )  # fmt: skip
    system_id = _system_id(topo_path, name)
    for traj_name, path in zip(_traj_names(system_id, paths), paths):
        system = _one_md(top, topo_path, path, lig_file, opts)
        system.name, system.system_id = traj_name, system_id
        yield system


def prepare_from_md(
    topology: str | Path,
    trajectories: list,
    ligand: str | Path | None = None,
    ligand_resname: str | None = None,
    image: bool = True,
    name: str | None = None,
    energies: str | Path | None = None,
    stride: int = 1,
    dt_ps: float | None = None,
    *,
    ligand_chain: str | None = None,
    ligand_resid: int | None = None,
) -> list[BindingSystem]:
    """One :class:`BindingSystem` per trajectory of one topology (replicas share ``system_id``).

    Args:
        topology: any topology mdtraj reads. trajectories: trajectory files (same atoms).
        ligand: SDF/MOL2 of the ligand (bonds, orders; matched to the topology), or None.
        ligand_resname: the ligand's residue name. image: make the ligand whole and unjumped
            next to the protein when the trajectory has a box. name: system id / name prefix.
        energies: per-snapshot energy CSV (unit in the column name); default: the
            ``interaction_energy.csv`` next to each trajectory. stride: keep every k-th frame.
        dt_ps: snapshot spacing of the input (ps); default from the file's times.
        ligand_chain, ligand_resid: pick one copy of the ligand by chain ID and residue
            number when several residues match (``--ligand-chain``, ``--ligand-resid``).
    """
    return list(
        iter_from_md(topology, trajectories, ligand, ligand_resname, image, name, energies,
                     stride, dt_ps, ligand_chain=ligand_chain, ligand_resid=ligand_resid)
    )  # fmt: skip


def _check_output(output: Path, append: bool, force: bool, inputs: Sequence[Path]) -> None:
    """Refuse a bad ``-o`` before any input is read (nothing is written on refusal)."""
    if append and force:
        raise InputError("--append", "--append and --force exclude each other")
    if output.is_dir():
        raise InputError(output, "is a directory; -o takes the dataset file to write (.h5)")
    if output.suffix.lower() not in SUFFIXES:
        raise InputError(
            output, f"expected a dataset file name ending in .h5 (got {output.name!r})"
        )
    if not output.parent.is_dir():
        raise InputError(output, f"output folder {str(output.parent)!r} does not exist")
    if any(output.resolve() == Path(i).resolve() for i in inputs):
        raise InputError(output, "output would overwrite an input file")
    if output.exists() and not (append or force):
        raise InputError(output, "already exists (use --force to overwrite or --append to add)")
    if output.exists() and append:
        open_dataset(output).close()  # only a prepared dataset can be appended to


def _check_options(
    stride: int, dt_ps: float | None, limit: int | None, workers: int | None, ids
) -> None:
    """Out-of-range options, refused before any input is read."""
    if stride < 1:
        raise InputError("--stride", f"must be at least 1 (got {stride})")
    if dt_ps is not None and not (math.isfinite(dt_ps) and dt_ps > 0):
        raise InputError("--dt-ps", f"must be a positive number of ps (got {dt_ps})")
    if limit is not None and limit < 1:
        raise InputError("--limit", f"must be at least 1 (got {limit})")
    if workers is not None and workers < 1:
        raise InputError("--workers", f"must be at least 1 (got {workers})")
    if isinstance(ids, str) and not [i for i in ids.split(",") if i.strip()]:
        raise InputError("--ids", "no ID given (comma-separated IDs, e.g. 11GS,1A0Q)")


def run_prepare(
    output: str | Path,
    topology: str | Path | None = None,
    trajectories: Sequence[str | Path] = (),
    ligand: str | Path | None = None,
    ligand_resname: str | None = None,
    image: bool = True,
    energies: str | Path | None = None,
    dt_ps: float | None = None,
    name: str | None = None,
    stride: int = 1,
    misato_file: str | Path | None = None,
    split: str | Path | None = None,
    ids: Sequence[str] | str | None = None,
    limit: int | None = None,
    workers: int | None = None,
    append: bool = False,
    force: bool = False,
    progress: bool = True,
    ligand_chain: str | None = None,
    ligand_resid: int | None = None,
) -> dict[str, Any]:
    """Prepare MD files or a MISATO file into the dataset ``output`` (atomic write).

    Returns:
        ``{"output", "written" (names), "trajectories", "frames"}`` for the CLI to render.
    """
    out = Path(output)
    if (misato_file is None) == (topology is None):
        raise InputError(None, "give either TOPOLOGY TRAJECTORY... or --misato FILE")
    if misato_file is not None and trajectories:
        raise InputError("--misato", "--misato takes no TOPOLOGY/TRAJECTORY arguments")
    inputs = [Path(x) for x in (topology, misato_file, ligand, energies, split, *trajectories)
              if x is not None]  # fmt: skip
    _check_options(stride, dt_ps, limit, workers, ids)
    _check_output(out, append, force, inputs)
    if misato_file is not None:
        systems: Any = prepare_from_misato(misato_file, ids, split, limit, progress, workers)
    else:
        systems = _md_progress(
            iter_from_md(topology, list(trajectories), ligand, ligand_resname, image, name,
                         energies, stride, dt_ps, ligand_chain=ligand_chain,
                         ligand_resid=ligand_resid),
            len(trajectories), progress,
        )  # fmt: skip
    written, frames = [], 0
    with DatasetWriter(out, append=append) as writer:
        for system in systems:
            writer.add(system)
            written.append(system.name)
            frames += system.num_frames
    return {"output": str(out), "written": written, "trajectories": len(written), "frames": frames}


def _md_progress(
    systems: Iterator[BindingSystem], total: int, show: bool
) -> Iterator[BindingSystem]:
    """A bar over the trajectory files (each is read, matched and imaged in turn)."""
    bar = progress_or_silent(total, "prepare", "trajectory", show)
    try:
        for system in systems:
            yield system
            bar.update(1)
    finally:
        bar.close()
