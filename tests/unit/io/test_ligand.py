"""SDF/MOL2 reading through RDKit on the real reference ligands."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from neuralmd_core.errors import InputError
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
