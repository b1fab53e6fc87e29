"""prepare_from_md / prepare_from_misato / system_from_pdb_sdf on the real data."""

from __future__ import annotations

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


def test_md_xtc_and_dcd_agree(refdata_dir):
    d = refdata_dir / "t4l" / "seed0"
    xtc, dcd = prepare_from_md(
        d / "topology.pdb", [d / "traj.xtc", d / "traj.dcd"], d / "ligand.sdf"
    )
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
    [s] = prepare_from_md(d / "topology.pdb", [d / "traj.dcd"], None, "LIG", energies=csv,
                          stride=10, dt_ps=2.0, name="gst")  # fmt: skip
    assert s.name == "gst_seed0" and s.num_frames == 10 and s.num_atoms == 39
    np.testing.assert_allclose(s.time_ps, np.arange(10) * 20.0)
    np.testing.assert_allclose(s.energy, -np.arange(0, 100, 10) - 0.5)
    assert s.provenance["ligand_detection"] == "resname" and len(s.lig_bonds) > 0
    csv.write_text("snapshot,energy\n0,1\n")
    with pytest.raises(InputError, match="no energy column"):
        prepare_from_md(d / "topology.pdb", [d / "traj.dcd"], energies=csv)


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
