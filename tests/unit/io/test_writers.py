"""Trajectory writers: every format read back by mdtraj and MDAnalysis; the ligand reader."""

import warnings

import mdtraj as md
import numpy as np
import pytest

from neuralmd_core.errors import InputError
from neuralmd_core.io.writers import (
    TRAJECTORY_FORMATS,
    infer_bonds,
    read_ligand_trajectory,
    topology_path_for,
    write_trajectory,
)

S = 12  # snapshots written


@pytest.fixture(scope="module")
def t4l(t4l_seed0):
    """Protein (with H) and ligand heavy atoms of the real T4L trajectory."""
    full = md.load(str(t4l_seed0 / "topology.pdb"))
    protein = full.atom_slice(full.topology.select("protein"))
    lig = read_ligand_trajectory(t4l_seed0 / "traj.xtc", t4l_seed0 / "topology.pdb")
    return protein, lig


def _write(tmp_path, t4l, ext, resname="TMP"):
    protein, lig = t4l
    return write_trajectory(
        tmp_path / f"traj{ext}", protein.topology, protein.xyz[0] * 10.0, lig.lig_z,
        lig.lig_names, resname, lig.lig_pos_A[80 : 80 + S], lig.time_ps[80 : 80 + S], lig.bonds,
    )  # fmt: skip


@pytest.mark.parametrize("ext", list(TRAJECTORY_FORMATS))
def test_round_trip_mdtraj_and_mdanalysis(tmp_path, t4l, ext):
    protein, lig = t4l
    traj_path, top_path = _write(tmp_path, t4l, ext, resname="XYL")
    assert top_path == topology_path_for(traj_path) and top_path.is_file()
    n_atoms = protein.n_atoms + lig.lig_z.size
    back = md.load(str(traj_path), top=str(top_path))
    assert (back.n_frames, back.n_atoms) == (S, n_atoms)
    assert [r.name for r in back.topology.residues][-1] == "XYL"
    times = lig.time_ps[80 : 80 + S]
    if TRAJECTORY_FORMATS[ext] and ext != ".dcd":  # mdtraj numbers DCD frames 0, 1, 2 ...
        assert np.allclose(back.time, times, atol=1e-3)
    ours = read_ligand_trajectory(traj_path, top_path)  # DCD: times from its header
    assert np.allclose(ours.time_ps, times if TRAJECTORY_FORMATS[ext] else np.arange(S), atol=1e-3)
    if ext == ".h5":
        return  # MDAnalysis has no reader for mdtraj's HDF5 layout (docs/evaluate.md)
    import MDAnalysis as mda

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(top_path), str(traj_path))
        assert (len(u.trajectory), len(u.atoms)) == (S, n_atoms)
        ligand = u.select_atoms("resname XYL")
        assert ligand.n_atoms == lig.lig_z.size
        assert sorted(ligand.elements) == sorted(["C"] * 8)
        if TRAJECTORY_FORMATS[ext]:
            times = [ts.time for ts in u.trajectory]
            assert np.allclose(times, lig.time_ps[80 : 80 + S], atol=1e-3)
        u.trajectory[3]
        assert np.allclose(ligand.positions, lig.lig_pos_A[83], atol=0.01)


def test_xtc_coordinates_to_xtc_precision(tmp_path, t4l):
    protein, lig = t4l
    traj_path, top_path = _write(tmp_path, t4l, ".xtc")
    back = read_ligand_trajectory(traj_path, top_path)
    assert np.abs(back.lig_pos_A - lig.lig_pos_A[80 : 80 + S]).max() <= 0.01  # 1e-3 nm
    assert np.array_equal(back.lig_z, lig.lig_z) and back.lig_names == lig.lig_names
    assert np.array_equal(back.bonds, lig.bonds)  # via CONECT records of the topology PDB
    assert back.protein_heavy_xyz_A.shape[0] == sum(
        a.element.symbol != "H" for a in protein.topology.atoms
    )
    full = md.load(str(traj_path), top=str(top_path))
    assert np.abs(full.xyz[:, : protein.n_atoms] - protein.xyz[0]).max() <= 1e-3  # rigid protein
    chains = list(full.topology.chains)
    assert len(chains) == 2 and chains[-1].chain_id != chains[0].chain_id
    assert "CONECT" in top_path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traj.pdb", "traj.xtc"]


def test_pdb_output_is_multimodel_with_separate_topology(tmp_path, t4l):
    traj_path, top_path = _write(tmp_path, t4l, ".pdb")
    assert top_path.name == "traj.top.pdb"
    assert traj_path.read_text().count("\nMODEL") + traj_path.read_text().startswith("MODEL") == S


def test_bad_outputs(tmp_path, t4l):
    with pytest.raises(InputError, match="unknown trajectory extension"):
        _write(tmp_path, t4l, ".gro")
    protein, lig = t4l
    with pytest.raises(InputError, match="does not exist"):
        write_trajectory(tmp_path / "missing" / "t.xtc", protein.topology, protein.xyz[0] * 10,
                         lig.lig_z, lig.lig_names, "TMP", lig.lig_pos_A[:2], [0.0, 1.0])  # fmt: skip
    with pytest.raises(InputError, match="do not match"):
        write_trajectory(tmp_path / "t.xtc", protein.topology, protein.xyz[0] * 10,
                         lig.lig_z, lig.lig_names, "TMP", lig.lig_pos_A[:2], [0.0])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_reader_errors(tmp_path, t4l_seed0):
    with pytest.raises(InputError, match="not found"):
        read_ligand_trajectory(tmp_path / "none.xtc", t4l_seed0 / "topology.pdb")
    with pytest.raises(InputError, match="no residue named 'ABC'.*TMP"):
        read_ligand_trajectory(t4l_seed0 / "traj.xtc", t4l_seed0 / "topology.pdb", "ABC")
    # a topology with two ligand candidates: the full T4L complex plus one more ligand
    full = md.load(str(t4l_seed0 / "topology.pdb"))
    lig = read_ligand_trajectory(t4l_seed0 / "traj.xtc", t4l_seed0 / "topology.pdb")
    paths = write_trajectory(tmp_path / "two.xtc", full.topology, full.xyz[0] * 10, lig.lig_z,
                             lig.lig_names, "LIG", lig.lig_pos_A[:2], [0.0, 1.0])  # fmt: skip
    with pytest.raises(InputError, match="TMP.*LIG|LIG.*TMP"):
        read_ligand_trajectory(*paths)
    assert read_ligand_trajectory(*paths, ligand_resname="LIG").lig_pos_A.shape == (2, 8, 3)


def test_inferred_bonds_match_the_topology(t4l):
    _, lig = t4l
    assert np.array_equal(infer_bonds(lig.lig_pos_A[0], lig.lig_z), lig.bonds)
