"""Readers -> :class:`BindingSystem` -> prepared dataset (``neuralmd prepare``)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mdtraj as md
import numpy as np
from tqdm import tqdm

from neuralmd_core import keys
from neuralmd_core.data.store import DatasetWriter
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import InputError
from neuralmd_core.io import _pbc, misato, structure
from neuralmd_core.io._files import check_file, short
from neuralmd_core.io._tables import ENERGY_TABLE, read_energies, times_next_to
from neuralmd_core.io.ligand import LigandInfo, atomic_mass, ideal_geometry, read_ligand

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
    match = structure.find_ligand(top, xyz[0], topo_path, opts["ligand_resname"], lig_file)
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
    return BindingSystem(
        name="",
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
        energies=None if energies is None else Path(energies),
        ligand=None if ligand is None else str(Path(ligand).resolve()),
    )  # fmt: skip
    system_id = _system_id(topo_path, name)
    out = []
    for traj_name, path in zip(_traj_names(system_id, paths), paths):
        system = _one_md(top, topo_path, path, lig_file, opts)
        system.name, system.system_id = traj_name, system_id
        out.append(system)
    return out


def _from_complex(c: misato.MisatoComplex, path: Path) -> BindingSystem:
    t = c.lig_pos.shape[0]
    provenance = {
        "source": "misato",
        "file": str(path.resolve()),
        "pdb_id": c.pdb_id,
        "force_field": misato.FORCE_FIELD,
        "snapshot_interval_ps": misato.SNAPSHOT_INTERVAL_PS,
        "time_note": "nominal 80 ps spacing; MISATO stores no time vector",
        **c.provenance,
    }
    return BindingSystem(
        name=c.pdb_id, backbone=c.backbone, res_type=np.array(
            [keys.residue_index(n) for n in c.res_name], dtype=np.int64
        ), res_name=c.res_name, res_number=c.res_number, chain_id=c.chain_id, lig_z=c.lig_z,
        lig_mass=c.lig_mass, lig_bonds=c.lig_bonds, lig_bond_order=c.lig_bond_order,
        lig_pos=c.lig_pos, time_ps=np.arange(t, dtype=np.float64) * misato.SNAPSHOT_INTERVAL_PS,
        energy=c.energy, lig_resname="MOL", lig_atom_names=c.lig_atom_names,
        system_id=c.pdb_id, provenance=provenance,
    )  # fmt: skip


def _read_id_list(path: str | Path) -> list[str]:
    p = check_file(path)
    try:
        ids = [line.strip() for line in p.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise InputError(p, "not a text file of IDs") from exc
    if not ids or any(len(i.split()) != 1 for i in ids):
        raise InputError(p, "expected one ID per line")
    return ids


def _select(path: Path, ids, split) -> tuple[list[str], bool]:
    if isinstance(ids, str):
        ids = [i for i in ids.split(",") if i.strip()]
    in_file = misato.list_ids(path)
    if split is not None:
        wanted = {i.upper() for i in _read_id_list(split)}
        if ids:
            return [i.strip() for i in ids if i.strip().upper() in wanted], True
        return [i for i in in_file if i.upper() in wanted], False
    return ([i.strip() for i in ids], True) if ids else (in_file, False)


def prepare_from_misato(
    path: str | Path,
    ids: Sequence[str] | str | None = None,
    split: str | Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Iterator[BindingSystem]:
    """Stream MISATO complexes as :class:`BindingSystem` (one group in memory at a time).

    Args:
        path: ``MD.hdf5`` or a file in its layout. ids: IDs to take (list or ``"A,B"``); any
            bad one is an error. split: a file of IDs (one per line) restricting the selection.
        limit: stop after this many prepared complexes. progress: tqdm bar on stderr.
        workers: reader processes (default: up to 2, the CPU count permitting).

    Yields:
        One system per usable complex; peptide complexes (and, without ``ids``, unusable
        records) are skipped and listed in one warning at the end.

    Raises:
        InputError: an unusable explicitly requested ID, or no usable record at all.
    """
    p = Path(path)
    selected, strict = _select(p, ids, split)
    skipped: list[str] = []
    done = 0
    bar = tqdm(total=len(selected) if limit is None else min(limit, len(selected)),
               unit="complex", disable=not progress, file=None, leave=False)  # fmt: skip
    try:
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        for _gid, result in misato.iter_records(p, selected, workers=n_workers):
            if limit is not None and done >= limit:
                break
            if isinstance(result, misato.SkipRecord) or (
                isinstance(result, Exception) and not strict
            ):
                skipped.append(str(result.problem if isinstance(result, InputError) else result))
                continue
            if isinstance(result, Exception):
                raise result
            yield _from_complex(result, p)
            done += 1
            bar.update(1)
    finally:
        bar.close()
    if skipped:
        log.warning("%s: skipped %d records: %s", p, len(skipped), "; ".join(skipped[:20]))
    if done == 0:
        first = skipped[0] if skipped else "nothing selected"
        raise InputError(p, f"no usable record ({first})")


def system_from_pdb_sdf(
    pdb: str | Path, sdf: str | Path, ligand_resname: str | None = None
) -> tuple[BindingSystem, md.Topology, np.ndarray]:
    """A single-snapshot system from a complex PDB and a ligand file (for ``rollout``).

    The protein is every protein residue of the PDB (a ligand or water in it is dropped);
    the ligand's heavy atoms come from the SDF/MOL2 in file order.

    Returns:
        (system with T = 1, protein-only mdtraj topology, protein coordinates (n_prot, 3) Å).
    """
    p = check_file(pdb)
    top = structure.load_topology(p)
    try:
        xyz0 = md.load(str(p)).xyz[0] * structure.NM_TO_A
    except Exception as exc:
        raise InputError(p, f"cannot read coordinates: {short(exc)}") from exc
    lig = read_ligand(sdf)
    drop = (ligand_resname or "").strip().upper()
    keep = [r for r in top.residues if r.is_protein and r.name.strip().upper() != drop]
    exclude = {r.index for r in top.residues} - {r.index for r in keep}
    backbone = structure.extract_backbone(top, xyz0, p, exclude=exclude)
    atoms = np.array([a.index for r in keep for a in r.atoms], dtype=np.int64)
    resname = ligand_resname.strip().upper()[:3] if ligand_resname else lig.resname
    system = BindingSystem(
        name=Path(sdf).stem, backbone=backbone.xyz, res_type=backbone.res_type,
        res_name=backbone.res_name, res_number=backbone.res_number, chain_id=backbone.chain_id,
        lig_z=lig.z, lig_mass=lig.mass, lig_bonds=lig.bonds, lig_bond_order=lig.bond_order,
        lig_pos=lig.pos[None].astype(np.float32), time_ps=np.zeros(1), lig_resname=resname,
        lig_atom_names=list(lig.atom_names), system_id=p.stem, lig_ideal=ideal_geometry(sdf),
        provenance={"source": "pdb+ligand", "pdb": str(p.resolve()),
                    "ligand_file": str(Path(sdf).resolve()), "residues_skipped": backbone.skipped},
    )  # fmt: skip
    return system, top.subset(atoms), xyz0[atoms].astype(np.float64)


def _check_output(output: Path, append: bool, force: bool, inputs: Sequence[Path]) -> None:
    if append and force:
        raise InputError(output, "--append and --force exclude each other")
    if output.exists() and not (append or force):
        raise InputError(output, "already exists (use --force to overwrite or --append to add)")
    if output.exists() and output.is_dir():
        raise InputError(output, "is a directory")
    if any(output.resolve() == Path(i).resolve() for i in inputs):
        raise InputError(output, "output would overwrite an input file")


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
) -> dict[str, Any]:
    """Prepare MD files or a MISATO file into the dataset ``output`` (atomic write).

    Returns:
        ``{"output", "written" (names), "trajectories", "frames"}`` for the CLI to render.
    """
    out = Path(output)
    if (misato_file is None) == (topology is None):
        raise InputError(None, "give either TOPOLOGY TRAJECTORY... or --misato FILE")
    inputs = [Path(x) for x in (topology, misato_file, ligand, *trajectories) if x is not None]
    _check_output(out, append, force, inputs)
    if misato_file is not None:
        if trajectories:
            raise InputError(None, "--misato takes no TOPOLOGY/TRAJECTORY arguments")
        systems: Any = prepare_from_misato(misato_file, ids, split, limit, progress, workers)
    else:
        systems = prepare_from_md(
            topology,
            list(trajectories),
            ligand,
            ligand_resname,
            image,
            name,
            energies,
            stride,
            dt_ps,
        )
    written, frames = [], 0
    with DatasetWriter(out, append=append) as writer:
        for system in systems:
            writer.add(system)
            written.append(system.name)
            frames += system.num_frames
    return {"output": str(out), "written": written, "trajectories": len(written), "frames": frames}
