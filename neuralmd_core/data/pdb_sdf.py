"""A single-snapshot :class:`BindingSystem` from a complex PDB and a ligand file (``rollout``).

The protein is every protein residue of the PDB; the ligand is the SDF/MOL2's heavy atoms, in
file order, at the file's pose. What the PDB itself says about the ligand is checked, not used:
a copy of the ligand in the PDB at another pose is reported (one warning naming both files), a
PBC-wrapped complex (CRYST1 box) is made whole and the ligand imaged next to the protein, as
``prepare`` does for trajectories, and a ligand that no protein residue is near is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mdtraj as md
import numpy as np

from neuralmd_core.data.pocket import pocket_atoms
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import InputError
from neuralmd_core.io import _pbc, structure
from neuralmd_core.io._files import captured_output, check_file, short
from neuralmd_core.io.ligand import LigandInfo, ideal_geometry, read_ligand
from neuralmd_core.io.structure import MATCH_TOL_A

log = logging.getLogger(__name__)


def _coordinates(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """All atoms' coordinates (n_atoms, 3) Å of a PDB and its box (3, 3) Å or ``None``.

    Raises:
        InputError: unreadable coordinates, or an atom with a NaN/inf coordinate (named).
    """
    try:
        with captured_output():
            traj = md.load(str(p))
    except Exception as exc:
        raise InputError(p, f"cannot read coordinates: {short(exc)}") from exc
    xyz = traj.xyz[0].astype(np.float64) * structure.NM_TO_A
    bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
    if bad.size:
        atom = traj.topology.atom(int(bad[0]))
        res = atom.residue
        more = f" ({bad.size} atoms have one)" if bad.size > 1 else ""
        raise InputError(p, f"atom {atom.serial or int(bad[0]) + 1} ({atom.name} of {res.name}"
                         f"{res.resSeq}, chain {structure.chain_label(res)}) has a NaN/inf "
                         f"coordinate{more}")  # fmt: skip
    box = traj.unitcell_vectors
    return xyz, None if box is None else box[0].astype(np.float64) * structure.NM_TO_A


def _gap(top, xyz0, res, lig: LigandInfo, box) -> tuple[float | None, float]:
    """RMSD (same element order, else ``None``) and centroid shift (Å) of the SDF's pose from
    residue ``res`` (minimum image in ``box``)."""
    atoms = structure.heavy_atoms(res)
    diff = lig.pos - xyz0[atoms]
    shift = lig.pos.mean(0) - xyz0[atoms].mean(0)
    if box is not None:
        diff, shift = _pbc.minimum_image(diff, box), _pbc.minimum_image(shift, box)
    z = np.array([top.atom(i).element.atomic_number for i in atoms])
    same_order = z.shape == lig.z.shape and bool((z == lig.z).all())
    rmsd = float(np.sqrt((np.linalg.norm(diff, axis=-1) ** 2).mean())) if same_order else None
    return rmsd, float(np.linalg.norm(shift))


def _same_molecule(top, res, lig: LigandInfo) -> bool:
    z = sorted(top.atom(i).element.atomic_number for i in structure.heavy_atoms(res))
    return z == sorted(lig.z.tolist())


def _pdb_ligand(top, xyz0, pdb: Path, lig: LigandInfo, sel: dict, box) -> tuple[list, str]:
    """The PDB's residues that are the ligand of the SDF (excluded from the protein), and the
    warning to give once every check has passed (``""`` for none).

    A copy at the SDF's pose is taken silently; one copy elsewhere is taken with a warning
    (the SDF's pose is the start); none is fine (an apo PDB); several are an error.
    """
    chosen = sel["chain"] is not None or sel["resid"] is not None
    cands = structure.ligand_candidates(top, sel["resname"], sel["chain"], sel["resid"])
    if chosen and not cands:
        raise structure.no_ligand_residue(top, pdb, sel["resname"], sel["chain"], sel["resid"])
    if not cands and sel["resname"]:  # --ligand-resname alone may only name the output
        cands = structure.ligand_candidates(top)
    atoms = [i for r in cands for i in structure.heavy_atoms(r)]
    hit = structure.match_positions(top, xyz0, lig, atoms)
    if hit is not None:
        return sorted({top.atom(int(i)).residue for i in hit}, key=lambda r: r.index), ""
    same = [r for r in cands if _same_molecule(top, r, lig)]
    if chosen and not same:
        n = len(structure.heavy_atoms(cands[0]))
        raise InputError(pdb, f"{structure.describe_residues(cands)} is not the molecule of "
                         f"{lig.path}: {n} heavy atoms, the ligand file has {lig.num_atoms} "
                         "(or other elements)")  # fmt: skip
    gaps = [_gap(top, xyz0, r, lig, box) for r in same]
    at_pose = [r for r, g in zip(same, gaps) if g[0] is not None and g[0] <= MATCH_TOL_A]
    if len(at_pose) == 1:  # the SDF's pose, up to a lattice vector of the box
        return at_pose, ""
    if len(same) > 1:
        raise InputError(pdb, f"several copies of the ligand of {Path(lig.path).name}: "
                         f"{structure.describe_residues(same)}, none at its pose; "
                         f"{structure.CHOOSE_LIGAND}")  # fmt: skip
    if not same:
        return [], ""
    rmsd, shift = gaps[0]
    rms = "" if rmsd is None else f"RMSD {rmsd:.2f} Å, "
    return same, (f"{lig.path}: pose differs from {structure.describe_residues(same)} in {pdb} "
                  f"({rms}centroid shift {shift:.2f} Å); the SDF's pose is the start")  # fmt: skip


def _image(top, keep: list, xyz0, backbone, lig: LigandInfo, box, pdb: Path):
    """Whole protein, whole ligand at the image nearest to the protein: (xyz, backbone, pos)."""
    residues = [np.array([a.index for a in r.atoms], dtype=np.int64) for r in keep]
    xyz = _pbc.whole_protein(xyz0, residues, backbone.atom_index, backbone.chain_id, box)
    bb = xyz[backbone.atom_index]
    pos = _pbc.image_ligand(lig.pos[None], lig.bonds, box[None], bb[:, 1])[0]
    atoms = np.concatenate(residues) if residues else np.zeros(0, dtype=np.int64)
    moved = max(float(np.abs(xyz[atoms] - xyz0[atoms]).max(initial=0.0)),
                float(np.abs(pos - lig.pos).max(initial=0.0)))  # fmt: skip
    if moved > 1e-3:
        log.info("%s: complex made whole across its periodic box (CRYST1)", pdb)
    return xyz, bb.astype(np.float32), pos


def _check_pocket(pdb: Path, lig: LigandInfo, pos, ca, protein_xyz, cutoff_A: float) -> None:
    """Refuse a ligand that no residue's CA is within ``cutoff_A`` of (the network sees none)."""
    d_ca = min(float(np.linalg.norm(ca - p, axis=-1).min()) for p in pos)
    if d_ca <= cutoff_A:
        return
    d_atom = min(float(np.linalg.norm(protein_xyz - p, axis=-1).min()) for p in pos)
    raise InputError(lig.path, f"ligand is {d_atom:.1f} Å from the nearest protein atom of "
                     f"{pdb.name}; no pocket residue (CA) within {cutoff_A:g} Å, the distance "
                     "the model sees")  # fmt: skip


def system_from_pdb_sdf(
    pdb: str | Path,
    sdf: str | Path,
    ligand_resname: str | None = None,
    *,
    ligand_chain: str | None = None,
    ligand_resid: int | None = None,
    image: bool = True,
    pocket_cutoff_A: float | None = None,
) -> tuple[BindingSystem, md.Topology, np.ndarray]:
    """A single-snapshot system from a complex PDB and a ligand file (for ``rollout``).

    The protein is every protein residue of the PDB (a ligand or water in it is dropped);
    the ligand's heavy atoms come from the SDF/MOL2 in file order, at its pose.

    Args:
        pdb: the complex (or protein) PDB, Å.
        sdf: the ligand's starting pose (SDF/MOL2 with 3D coordinates, Å).
        ligand_resname: the residue name written for the ligand (default: the SDF title when it
            looks like one, else ``LIG``); also the name of the ligand's residue in the PDB.
        ligand_chain, ligand_resid: chain ID and residue number of the ligand's residue in the
            PDB, to tell copies of the ligand apart.
        image: with a CRYST1 box, make the complex whole and put the ligand at the periodic
            image nearest to the protein (atoms move by lattice vectors only).
        pocket_cutoff_A: refuse a ligand with no residue CA within this distance, Å (the
            network's cutoff); ``None`` skips the check.

    Returns:
        (system with T = 1, protein-only mdtraj topology, protein coordinates (n_prot, 3) Å).

    Raises:
        InputError: unreadable or non-finite inputs, ambiguous ligand copies, a far ligand.
    """
    p = check_file(pdb)
    top = structure.load_topology(p)
    xyz0, box = _coordinates(p)
    lig = read_ligand(sdf)
    sel = {"resname": ligand_resname, "chain": ligand_chain, "resid": ligand_resid}
    drop = (ligand_resname or "").strip().upper()
    copies, warning = _pdb_ligand(top, xyz0, p, lig, sel, box)
    lig_res = {r.index for r in copies}
    keep = [r for r in top.residues
            if r.is_protein and r.index not in lig_res and r.name.strip().upper() != drop]  # fmt: skip
    exclude = {r.index for r in top.residues} - {r.index for r in keep}
    backbone = structure.extract_backbone(top, xyz0, p, exclude=exclude)
    pos, imaged = lig.pos, False
    if image and box is not None:
        xyz0, backbone.xyz, pos = _image(top, keep, xyz0, backbone, lig, box, p)
        imaged = True
    atoms = np.array([a.index for r in keep for a in r.atoms], dtype=np.int64)
    if pocket_cutoff_A is not None:
        heavy = [a.index for r in keep for a in r.atoms
                 if a.element is not None and a.element.atomic_number > 1]  # fmt: skip
        _check_pocket(p, lig, pos, backbone.xyz[:, 1], xyz0[heavy], pocket_cutoff_A)
    resname = ligand_resname.strip().upper()[:3] if ligand_resname else lig.resname
    system = BindingSystem(
        name=Path(sdf).stem, backbone=backbone.xyz, res_type=backbone.res_type,
        res_name=backbone.res_name, res_number=backbone.res_number, chain_id=backbone.chain_id,
        lig_z=lig.z, lig_mass=lig.mass, lig_bonds=lig.bonds, lig_bond_order=lig.bond_order,
        lig_pos=pos[None].astype(np.float32), time_ps=np.zeros(1), lig_resname=resname,
        lig_atom_names=list(lig.atom_names), system_id=p.stem, lig_ideal=ideal_geometry(sdf),
        pocket_xyz=pocket_atoms(top, xyz0, pos, exclude),
        provenance={"source": "pdb+ligand", "pdb": str(p.resolve()),
                    "ligand_file": str(Path(sdf).resolve()), "residues_skipped": backbone.skipped,
                    "imaged": imaged},
    )  # fmt: skip
    if warning:
        log.warning("%s", warning)
    return system, top.subset(atoms), xyz0[atoms].astype(np.float64)
