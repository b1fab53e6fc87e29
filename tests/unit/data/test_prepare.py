"""prepare_from_md / prepare_from_misato / system_from_pdb_sdf on the real data."""

from __future__ import annotations

import shutil
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from neuralmd_core import keys
from neuralmd_core.data.prepare import (
    prepare_from_md,
    prepare_from_misato,
    run_prepare,
    system_from_pdb_sdf,
)
from neuralmd_core.errors import InputError


def dcd_copy(d: Path, dest: Path, *beside: str) -> Path:
    """``dest/seed<k>/traj.dcd``: the replica folder ``d``'s XTC as a DCD (no times in it),
    with the files ``beside`` copied next to it."""
    out = dest / d.name / "traj.dcd"
    out.parent.mkdir(parents=True, exist_ok=True)
    md.load(str(d / "traj.xtc"), top=str(d / "topology.pdb")).save_dcd(str(out))
    for name in beside:
        shutil.copy(d / name, out.parent / name)
    return out


def test_md_xtc_and_dcd_agree(refdata_dir, tmp_path):
    d = refdata_dir / "t4l" / "seed0"
    dcd_file = dcd_copy(d, tmp_path, "energies.csv")
    xtc, dcd = prepare_from_md(d / "topology.pdb", [d / "traj.xtc", dcd_file], d / "ligand.sdf")
    assert xtc.system_id == dcd.system_id == "t4l" and xtc.name != dcd.name
    np.testing.assert_allclose(xtc.lig_pos, dcd.lig_pos, atol=0.02)
    np.testing.assert_allclose(xtc.time_ps, np.arange(100.0))
    np.testing.assert_allclose(dcd.time_ps, np.arange(100.0))  # from energies.csv
    assert (
        xtc.provenance["time_source"] == "xtc time"
        and "energies.csv" in dcd.provenance["time_source"]
    )
    kj = np.loadtxt(d / "interaction_energy.csv", delimiter=",", skiprows=1)[:, 2]
    np.testing.assert_allclose(xtc.energy, kj / keys.KJ_PER_KCAL)
    assert xtc.lig_resname == "TMP" and xtc.lig_atom_names[0] == "C1"
    assert xtc.num_residues == 104 and xtc.res_type.max() < keys.UNKNOWN_RESIDUE


def test_stride_dt_and_explicit_energies(refdata_dir, tmp_path):
    d = refdata_dir / "11gs" / "seed0"
    csv = tmp_path / "e.csv"
    csv.write_text(
        "snapshot,my_energy_kcal_mol\n" + "".join(f"{i},{-i - 0.5}\n" for i in range(100))
    )
    dcd = dcd_copy(d, tmp_path)
    [s] = prepare_from_md(d / "topology.pdb", [dcd], None, "LIG", energies=csv,
                          stride=10, dt_ps=2.0, name="gst")  # fmt: skip
    assert s.name == "gst_seed0" and s.num_frames == 10 and s.num_atoms == 39
    np.testing.assert_allclose(s.time_ps, np.arange(10) * 20.0)
    np.testing.assert_allclose(s.energy, -np.arange(0, 100, 10) - 0.5)
    assert s.provenance["ligand_detection"] == "resname" and len(s.lig_bonds) > 0
    csv.write_text("snapshot,energy\n0,1\n")
    with pytest.raises(InputError, match="no energy column"):
        prepare_from_md(d / "topology.pdb", [dcd], energies=csv)


def test_system_from_pdb_sdf(misato_dir, t4l_seed0):
    c = misato_dir / "complexes" / "11gs"
    system, top, xyz = system_from_pdb_sdf(c / "protein.pdb", c / "ligand.sdf")
    assert system.num_frames == 1 and system.num_atoms == 39 and system.num_residues == 416
    assert top.n_atoms == xyz.shape[0] == 3262 and system.lig_resname == "LIG"
    system.validate()
    # a ligand inside the PDB is stripped; protein atoms are kept unchanged
    system, top, xyz = system_from_pdb_sdf(t4l_seed0 / "topology.pdb", t4l_seed0 / "ligand.sdf")
    assert all(r.name != "TMP" for r in top.residues) and system.lig_resname == "TMP"
    assert system.num_atoms == 8 and top.n_atoms == 1672
    assert np.isfinite(xyz).all()


def test_misato_stream_and_selection(misato_dir, tmp_path):
    fixture = misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5"
    [s] = list(prepare_from_misato(fixture, progress=False))
    assert s.name == s.system_id == "11GS" and s.provenance["snapshot_interval_ps"] == 80.0
    split = tmp_path / "split.txt"
    split.write_text("1A1B\n")
    with pytest.raises(InputError, match="no usable record"):
        list(prepare_from_misato(fixture, split=split, progress=False))
    with pytest.raises(InputError, match="no usable record"):
        list(prepare_from_misato(misato_dir / "inference_from_pdb.hdf5", progress=False))
    with pytest.raises(InputError, match="5oml: no trajectory"):
        list(
            prepare_from_misato(misato_dir / "inference_from_pdb.hdf5", ids="5oml", progress=False)
        )


def test_run_prepare_refuses_overwrite(misato_dir, tmp_path):
    out = tmp_path / "m.h5"
    fixture = misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5"
    assert run_prepare(out, misato_file=fixture, progress=False)["written"] == ["11GS"]
    with pytest.raises(InputError, match="already exists"):
        run_prepare(out, misato_file=fixture, progress=False)
    assert run_prepare(out, misato_file=fixture, force=True, progress=False)["trajectories"] == 1


def _wrapped(pdb: Path, sdf: Path, folder: Path) -> tuple[Path, Path, float]:
    """``pdb`` and ``sdf`` wrapped atom by atom into a cubic box (CRYST1) whose faces cut
    through the protein, with every ligand atom wrapped to the far side."""
    from rdkit import Chem

    t = md.load(str(pdb))
    xyz = t.xyz[0].astype(np.float64) * 10
    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    conf = mol.GetConformer()
    edge = float(np.ptp(xyz, axis=0).max()) + 15.0
    origin = conf.GetPositions().max(0) + 0.5

    def wrap(points):
        return origin + np.mod(points - origin, edge)

    t.xyz = (wrap(xyz) / 10)[None].astype(np.float32)
    t.unitcell_vectors = (np.eye(3) * edge / 10)[None].astype(np.float32)
    t.save_pdb(str(folder / "wrapped.pdb"))
    for i, p in enumerate(wrap(conf.GetPositions())):
        conf.SetAtomPosition(i, p.tolist())
    Chem.MolToMolFile(mol, str(folder / "wrapped.sdf"))
    return folder / "wrapped.pdb", folder / "wrapped.sdf", edge


def test_system_from_pdb_sdf_makes_a_wrapped_two_chain_complex_whole(misato_dir, tmp_path):
    c = misato_dir / "complexes" / "11gs"
    plain, top0, xyz0 = system_from_pdb_sdf(c / "protein.pdb", c / "ligand.sdf")
    wpdb, wsdf, edge = _wrapped(c / "protein.pdb", c / "ligand.sdf", tmp_path)
    assert set(plain.chain_id.tolist()) == {"A", "B"}
    imaged, top1, xyz1 = system_from_pdb_sdf(wpdb, wsdf)
    assert imaged.provenance["imaged"] and top1.n_atoms == top0.n_atoms
    shift = xyz1[0] - xyz0[0]  # one lattice vector for every atom, both chains and the ligand
    np.testing.assert_allclose(shift / edge, np.round(shift / edge), atol=1e-4)
    np.testing.assert_allclose(xyz1, xyz0 + shift, atol=2e-3)  # PDB: 1e-3 Å
    np.testing.assert_allclose(imaged.backbone, plain.backbone + shift, atol=2e-3)
    np.testing.assert_allclose(imaged.lig_pos, plain.lig_pos + shift, atol=2e-3)
    raw, _, _ = system_from_pdb_sdf(wpdb, wsdf, image=False)
    assert np.abs(raw.lig_pos - imaged.lig_pos).max() > edge / 2  # imaging did the work


def test_system_from_pdb_sdf_refuses_nan_atoms_and_ligands_out_of_reach(t4l_seed0, tmp_path):
    pdb, sdf = t4l_seed0 / "topology.pdb", t4l_seed0 / "ligand.sdf"
    lines = pdb.read_text().splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM") and ln[12:16] == " CA ")
    lines[k] = lines[k][:46] + f"{'nan':>8}" + lines[k][54:]
    bad = tmp_path / "nan.pdb"
    bad.write_text("".join(lines))
    with pytest.raises(InputError, match=r"atom 3 \(CA of ASN1, chain A\) has a NaN/inf") as err:
        system_from_pdb_sdf(bad, sdf)
    assert err.value.path == str(bad)
    system = system_from_pdb_sdf(pdb, sdf, pocket_cutoff_A=5.0)[0]  # 3.5 Å from a CA
    from rdkit import Chem

    mol = Chem.MolFromMolFile(str(sdf), removeHs=False)
    conf = mol.GetConformer()
    for i, p in enumerate(conf.GetPositions() + [0.0, 0.0, 60.0]):
        conf.SetAtomPosition(i, p.tolist())
    far = tmp_path / "far.sdf"
    Chem.MolToMolFile(mol, str(far))
    with pytest.raises(InputError, match=r"Å from the nearest protein atom of topology.pdb; "
                       r"no pocket residue \(CA\) within 5 Å") as err:  # fmt: skip
        system_from_pdb_sdf(pdb, far, pocket_cutoff_A=5.0)
    assert err.value.path == str(far)
    assert system_from_pdb_sdf(pdb, far)[0].num_atoms == system.num_atoms  # no check asked
