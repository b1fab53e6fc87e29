"""SDF/MOL2 reading through RDKit on the real reference ligands."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from neuralmd_core.errors import InputError
from neuralmd_core.io import structure
from neuralmd_core.io.ligand import guess_resname, read_ligand

SYSTEMS = {"t4l": 8, "11gs": 39, "t4l_ff14sb": 8}


@pytest.mark.parametrize("system,heavy", SYSTEMS.items())
def test_reference_ligands(refdata_dir, system, heavy):
    path = refdata_dir / system / "seed0" / "ligand.sdf"
    lig = read_ligand(path)
    ref = Chem.MolFromMolFile(str(path), removeHs=False)
    assert lig.num_atoms == heavy == ref.GetNumHeavyAtoms()
    assert lig.pos.shape == (heavy, 3)
    np.testing.assert_allclose(lig.pos, ref.GetConformer().GetPositions()[lig.heavy_index])
    assert (lig.z > 1).all() and (lig.bonds[:, 0] < lig.bonds[:, 1]).all()
    assert set(np.unique(lig.bond_order)) <= {1.0, 1.5, 2.0, 3.0}
    assert lig.total_charge == Chem.GetFormalCharge(ref)
    np.testing.assert_allclose(lig.mass[lig.z == 6], 12.011, atol=1e-3)


def test_xylene_chemistry(t4l_seed0):
    lig = read_ligand(t4l_seed0 / "ligand.sdf")
    assert lig.resname == "TMP"  # SDF title is a residue name
    assert (lig.bond_order == 1.5).sum() == 6  # the benzene ring
    assert len(lig.bonds) == 8


def test_11gs_charge_and_atom_names(refdata_dir):
    lig = read_ligand(refdata_dir / "11gs" / "seed0" / "ligand.sdf")
    assert lig.total_charge == -2
    assert len(set(lig.atom_names)) == lig.num_atoms and lig.atom_names[0][0] in "CNOS"


def _mol2_text(mol: Chem.Mol) -> str:
    """A minimal Tripos MOL2 (SYBYL types) for a molecule with explicit H and aromatic flags."""
    conf = mol.GetConformer()
    lines = ["@<TRIPOS>MOLECULE", "TMP", f"{mol.GetNumAtoms()} {mol.GetNumBonds()} 0 0 0", "SMALL",
             "NO_CHARGES", "", "@<TRIPOS>ATOM"]  # fmt: skip
    for a in mol.GetAtoms():
        p = conf.GetAtomPosition(a.GetIdx())
        sym = a.GetSymbol()
        typ = sym if sym == "H" else f"{sym}.{'ar' if a.GetIsAromatic() else '3'}"
        lines.append(
            f"{a.GetIdx() + 1} {sym}{a.GetIdx() + 1} {p.x:.4f} {p.y:.4f} {p.z:.4f} {typ} 1 TMP 0.0"
        )
    lines.append("@<TRIPOS>BOND")
    for b in mol.GetBonds():
        order = "ar" if b.GetIsAromatic() else str(int(b.GetBondTypeAsDouble()))
        lines.append(f"{b.GetIdx() + 1} {b.GetBeginAtomIdx() + 1} {b.GetEndAtomIdx() + 1} {order}")
    return "\n".join(lines) + "\n"


def test_mol2_matches_sdf(t4l_seed0, tmp_path):
    sdf = read_ligand(t4l_seed0 / "ligand.sdf")
    mol = Chem.MolFromMolFile(str(t4l_seed0 / "ligand.sdf"), removeHs=False)
    path = tmp_path / "tmp.mol2"
    path.write_text(_mol2_text(mol))
    m2 = read_ligand(path)
    np.testing.assert_array_equal(m2.z, sdf.z)
    np.testing.assert_allclose(m2.pos, sdf.pos, atol=1e-4)
    assert sorted(map(tuple, m2.bonds)) == sorted(map(tuple, sdf.bonds))
    assert m2.atom_names[0] == "C1"


def test_bad_ligand_files(tmp_path):
    flat = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1C"))
    AllChem.Compute2DCoords(flat)
    cases = {
        "missing.sdf": None,
        "empty.sdf": "",
        "garbage.sdf": "\x00\x01garbage\nnot a molfile\n",
        "flat.sdf": Chem.MolToMolBlock(flat),
        "ligand.xyz": "1\n\nC 0 0 0\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(InputError) as err:
            read_ligand(path)
        assert err.value.path == str(path)


def test_guess_resname():
    assert guess_resname("tmp") == "TMP"
    assert guess_resname("glutathione conjugate") == "LIG"
    assert guess_resname("") == "LIG"


def test_ideal_geometry_is_closer_to_the_md_mean_than_the_pose(t4l_seed0):
    """MMFF94 on the ligand alone gives bond/angle/ring distances within ~0.01 Å of the MD's mean,
    where the single MD pose is off by its vibration; the file is only read."""
    import mdtraj as md

    from neuralmd_core.data.ligand_graph import LigandGraph
    from neuralmd_core.io.ligand import ideal_geometry

    sdf = t4l_seed0 / "ligand.sdf"
    before = sdf.read_bytes()
    info, ideal = read_ligand(sdf), ideal_geometry(sdf)
    assert ideal is not None and ideal.shape == info.pos.shape and sdf.read_bytes() == before
    traj = md.load(str(t4l_seed0 / "traj.xtc"), top=str(t4l_seed0 / "topology.pdb"))
    heavy = np.load(t4l_seed0 / "aux.npz")["ligand_heavy_index"]
    x = traj.xyz[:, heavy] * 10.0
    i, j = LigandGraph.from_bonds(info.num_atoms, info.bonds).rigid_pairs.T
    mean = np.linalg.norm(x[:, i] - x[:, j], axis=-1).mean(0)
    err_ideal = np.abs(np.linalg.norm(ideal[i] - ideal[j], axis=-1) - mean).mean()
    err_pose = np.abs(np.linalg.norm(info.pos[i] - info.pos[j], axis=-1) - mean).mean()
    assert err_ideal < 0.015 and err_ideal < 0.5 * err_pose, (err_ideal, err_pose)


# ---------------------------------------------------------------- non-finite coordinates


def test_a_nan_coordinate_is_named_by_atom(t4l_seed0, tmp_path):
    lines = (t4l_seed0 / "ligand.sdf").read_text().splitlines(keepends=True)
    lines[5] = lines[5][:10] + f"{'nan':>10}" + lines[5][20:]  # atom 2, y
    bad = tmp_path / "nan.sdf"
    bad.write_text("".join(lines))
    with pytest.raises(InputError, match=r"atom 2 \(C\) has a non-finite y coordinate") as err:
        read_ligand(bad)
    assert err.value.path == str(bad)
    mol = Chem.MolFromMolFile(str(t4l_seed0 / "ligand.sdf"), removeHs=False)
    text = _mol2_text(mol).splitlines(keepends=True)
    row = next(i for i, ln in enumerate(text) if ln.startswith("3 C3 "))
    fields = text[row].split()
    fields[4] = "inf"  # atom 3, z
    text[row] = " ".join(fields) + "\n"
    mol2 = tmp_path / "inf.mol2"
    mol2.write_text("".join(text))
    with pytest.raises(InputError, match=r"atom 3 \(C\) has a (non-finite z|NaN/inf) coordinate"):
        read_ligand(mol2)


def test_truncated_and_misnamed_ligand_files_say_so(t4l_seed0, tmp_path):
    sdf = (t4l_seed0 / "ligand.sdf").read_bytes()
    half = tmp_path / "half.sdf"
    half.write_bytes(sdf[: len(sdf) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_ligand(half)
    pdb = tmp_path / "complex.sdf"
    pdb.write_bytes((t4l_seed0 / "topology.pdb").read_bytes())
    with pytest.raises(InputError, match="holds PDB records"):
        read_ligand(pdb)
    assert read_ligand(t4l_seed0 / "ligand.sdf").path == str(t4l_seed0 / "ligand.sdf")


# ---------------------------------------------------------------- the ligand in a topology


def _two_copies(pdb: Path, out: Path) -> Path:
    """``pdb`` plus a second TMP in chain B, residue 205, 15 Å away (PDB text)."""
    lines = pdb.read_text().splitlines(keepends=True)
    copy = [f"HETATM{2001 + k:5d}{ln[11:21]}B 205    {float(ln[30:38]) + 15:8.3f}{ln[38:]}"
            for k, ln in enumerate(ln for ln in lines if ln.startswith("HETATM"))]  # fmt: skip
    end = next(i for i, ln in enumerate(lines) if ln.startswith("CONECT"))
    out.write_text("".join(lines[:end] + copy + ["TER\n"] + lines[end:]))
    return out


def test_ligand_copies_are_chosen_by_chain_or_resid(t4l_seed0, tmp_path):
    src = _two_copies(t4l_seed0 / "topology.pdb", tmp_path / "two.pdb")
    top = structure.load_topology(src)
    xyz0 = md.load(str(src)).xyz[0] * 10
    with pytest.raises(InputError) as err:
        structure.find_ligand(top, xyz0, src, resname="TMP")
    line = str(err.value)
    assert "several candidate ligand residues" in line
    assert "TMP105 (chain A, resid 105), TMP205 (chain B, resid 205)" in line
    assert "--ligand-chain" in line and "--ligand-resid" in line
    a = structure.find_ligand(top, xyz0, src, resname="TMP", chain="A")
    b = structure.find_ligand(top, xyz0, src, resid=205)
    assert a.method == b.method == "resname" and len(a.atom_index) == len(b.atom_index) == 8
    assert {top.atom(int(i)).residue.chain.chain_id for i in b.atom_index} == {"B"}
    np.testing.assert_allclose(xyz0[b.atom_index] - xyz0[a.atom_index], [[15, 0, 0]] * 8,
                               atol=1e-3)  # fmt: skip
    with pytest.raises(
        InputError, match="no residue matches --ligand-resname TMP --ligand-chain Z"
    ):
        structure.find_ligand(top, xyz0, src, resname="TMP", chain="Z")
    assert structure.ligand_candidates(top, chain="B", resid=105) == []
    # with the SDF, its pose picks the copy it sits on
    hit = structure.find_ligand(top, xyz0, src, ligand=read_ligand(t4l_seed0 / "ligand.sdf"))
    assert hit.method == "sdf-position"
    np.testing.assert_array_equal(np.sort(hit.atom_index), np.sort(a.atom_index))


def test_matching_by_element_order_warns_when_the_poses_differ(t4l_seed0, caplog):
    src = t4l_seed0 / "topology.pdb"
    top = structure.load_topology(src)
    xyz0 = md.load(str(src)).xyz[0] * 10
    lig = read_ligand(t4l_seed0 / "ligand.sdf")
    moved = dataclasses.replace(lig, pos=lig.pos + [0.0, 3.0, 0.0])
    with caplog.at_level(logging.WARNING):
        match = structure.find_ligand(top, xyz0, src, ligand=moved)
    assert match.method == "sdf-elements"
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert lig.path in text and str(src) in text and "RMSD 3.00 A" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert structure.find_ligand(top, xyz0, src, ligand=lig).method == "sdf-position"
    assert not caplog.records
