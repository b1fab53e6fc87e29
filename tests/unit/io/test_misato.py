"""MISATO MD.hdf5 reading: the real fixtures and a 100-snapshot file in MISATO layout."""

from __future__ import annotations

import h5py
import mdtraj as md
import numpy as np
import pytest
from rdkit import Chem

from neuralmd_core import keys
from neuralmd_core.errors import InputError
from neuralmd_core.io import misato
from neuralmd_core.io._templates import templates

INFERENCE_IDS = ["11gs", "1js0", "1o91", "5oml", "5vvf", "6nij", "7yam"]


def _one(path, gid):
    [(name, result)] = list(misato.iter_records(path, [gid]))
    return name, result


def test_100_snapshot_layout_atom_by_atom(misato_100):
    path, meta = misato_100
    name, c = _one(path, "11gs")  # IDs match case-insensitively
    assert name == "11GS" and isinstance(c, misato.MisatoComplex)
    traj, top = meta["traj"], meta["traj"].topology
    protein = [r for r in top.residues if r.name != "LIG"]
    assert c.backbone.shape == (len(protein), 3, 3) == (170, 3, 3)
    for k, res in enumerate(protein):
        atoms = {a.name: a.index for a in res.atoms}
        ref = traj.xyz[0, [atoms["N"], atoms["CA"], atoms["C"]]] * 10
        np.testing.assert_allclose(c.backbone[k], ref, atol=1e-4)
        assert c.res_name[k] == meta["labels"][k]  # Amber name (HIE), from the templates
        assert keys.residue_index(c.res_name[k]) == keys.residue_index(res.name)
    lig = [a.index for a in top.atoms if a.residue.name == "LIG" and a.element.symbol != "H"]
    assert c.lig_pos.shape == (100, 39, 3)
    np.testing.assert_allclose(c.lig_pos, traj.xyz[:, lig] * 10, atol=1e-4)
    np.testing.assert_array_equal(c.lig_z, [top.atom(i).element.atomic_number for i in lig])
    np.testing.assert_allclose(c.energy, meta["energy"])

    # perceived connectivity equals the reference SDF's heavy-atom bonds (same atom order)
    assert set(map(tuple, c.lig_bonds)) == _sdf_heavy_bonds(meta["sdf"])


def _sdf_heavy_bonds(path):
    mol = Chem.MolFromMolFile(str(path), removeHs=False)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    return {
        tuple(sorted((heavy.index(b.GetBeginAtomIdx()), heavy.index(b.GetEndAtomIdx()))))
        for b in mol.GetBonds() if b.GetBeginAtomIdx() in heavy and b.GetEndAtomIdx() in heavy
    }  # fmt: skip


def test_fixture_record_matches_rebuilt_pdb_and_sdf(misato_dir):
    name, c = _one(misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5", "11GS")
    assert c.backbone.shape == (416, 3, 3) and set(c.chain_id) == {"A", "B"}
    ref = md.load(str(misato_dir / "md_frame_complexes" / "11GS" / "protein.pdb"))
    bb = ref.topology.select("name N CA C and protein")
    np.testing.assert_allclose(c.backbone.reshape(-1, 3), ref.xyz[0, bb] * 10, atol=1e-3)
    sdf_path = misato_dir / "md_frame_complexes" / "11GS" / "ligand.sdf"
    sdf = Chem.MolFromMolFile(str(sdf_path), removeHs=False)
    heavy = [a.GetIdx() for a in sdf.GetAtoms() if a.GetAtomicNum() > 1]
    np.testing.assert_allclose(c.lig_pos[0], sdf.GetConformer().GetPositions()[heavy], atol=1e-3)
    assert set(map(tuple, c.lig_bonds)) == _sdf_heavy_bonds(sdf_path)
    assert c.provenance["bond_perception"].startswith("DetermineConnectivity")  # charge -2


@pytest.mark.parametrize("gid", INFERENCE_IDS)
def test_inference_records_are_rejected(misato_dir, gid):
    _, result = _one(misato_dir / "inference_from_pdb.hdf5", gid)
    assert isinstance(result, InputError) and "no trajectory" in result.problem


def test_inference_residues_parse(misato_dir):
    """Template parsing on the 7 protein-only records (heavy-only and all-atom)."""
    tm = templates()
    with h5py.File(misato_dir / "inference_from_pdb.hdf5", "r") as f:
        for gid in INFERENCE_IDS:
            g = f[gid]
            types, codes = g["atoms_type"][:].tolist(), g["atoms_residue"][:].tolist()
            heavy = not (g["atoms_number"][:] == 1).any()
            n = 0
            for s, e in misato.segments(g["molecules_begin_atom_index"][:], len(types)):
                res, failed = tm.parse(types, codes, s, e, heavy)
                assert failed is None, gid
                n += len(res)
            assert n > 100


def test_no_ligand_and_peptide(tmp_path, misato_dir):
    src = misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5"
    out = tmp_path / "variants.hdf5"
    with h5py.File(src, "r") as fi, h5py.File(out, "w") as fo:
        for gid in ("1A1B", "3L6X"):  # 3l6x is in peptides.txt, 1a1b is not
            g = fo.create_group(gid)
            for k in fi["11GS"]:
                data = fi["11GS"][k][()]
                if k == "atoms_residue":
                    data = np.where(data == 0, 2, data)  # no MOL atoms left
                g.create_dataset(k, data=data)
    results = dict(misato.iter_records(out, ["1A1B", "3L6X", "ZZZZ"]))
    assert "no ligand" in results["1A1B"].problem
    assert isinstance(results["3L6X"], misato.SkipRecord)
    assert "no such record" in results["ZZZZ"].problem
