"""The prepared HDF5 dataset: round trip, append, atomicity, lazy torch Dataset."""

from __future__ import annotations

import json
import pickle
import shutil

import h5py
import mdtraj as md
import numpy as np
import pytest
import torch

from neuralmd_core import keys
from neuralmd_core.data.batch import collate_systems
from neuralmd_core.data.prepare import prepare_from_md
from neuralmd_core.data.store import TrajectoryDataset, open_dataset, write_systems
from neuralmd_core.errors import InputError


@pytest.fixture(scope="module")
def t4l_systems(refdata_dir, tmp_path_factory):
    d = refdata_dir / "t4l"
    dcd = tmp_path_factory.mktemp("dcd") / "seed1" / "traj.dcd"  # seed1's XTC as a DCD
    dcd.parent.mkdir()
    md.load(str(d / "seed1" / "traj.xtc"), top=str(d / "seed1" / "topology.pdb")).save_dcd(str(dcd))
    shutil.copy(d / "seed1" / "interaction_energy.csv", dcd.parent)  # its energy labels
    return prepare_from_md(d / "seed0" / "topology.pdb", [d / "seed0" / "traj.xtc", dcd],
                           ligand=d / "seed0" / "ligand.sdf", dt_ps=1.0)  # fmt: skip


def test_round_trip_every_field(t4l_systems, tmp_path):
    path = tmp_path / "ds.h5"
    write_systems(path, t4l_systems)
    with open_dataset(path) as ds:
        assert ds.names() == [s.name for s in t4l_systems] and len(ds) == 2
        for ref in t4l_systems:
            got = ds.load(ref.name)
            for field in ("backbone", "res_type", "res_name", "res_number", "chain_id", "lig_z",
                          "lig_mass", "lig_bonds", "lig_bond_order", "lig_pos", "time_ps", "energy",
                          "pocket_xyz"):  # fmt: skip
                np.testing.assert_array_equal(
                    getattr(got, field), getattr(ref, field), err_msg=field
                )
            assert got.lig_atom_names == ref.lig_atom_names and got.lig_resname == "TMP"
            assert got.system_id == ref.system_id and got.provenance == ref.provenance
        info = ds.info()
    json.dumps(info)
    assert info["schema_version"] == 1 and info["units"]["length"] == "angstrom"
    assert info["trajectories"][0]["frames"] == 100 and info["trajectories"][0]["has_energy"]


def test_independent_h5py_reader(t4l_systems, tmp_path):
    path = tmp_path / "ds.h5"
    write_systems(path, t4l_systems[:1])
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 1 and f.attrs["units_energy"] == "kcal/mol"
        g = f["trajectories"][t4l_systems[0].name]
        assert g[keys.LIG_POS].chunks is not None and g[keys.LIG_POS].compression == "gzip"
        np.testing.assert_allclose(g[keys.LIG_POS][5], t4l_systems[0].lig_pos[5])
        assert json.loads(g.attrs["provenance"])["ligand_detection"] == "sdf-position"


def test_append_and_duplicates(t4l_systems, tmp_path):
    path = tmp_path / "ds.h5"
    write_systems(path, t4l_systems[:1])
    write_systems(path, t4l_systems[1:], append=True)
    with open_dataset(path) as ds:
        assert len(ds) == 2
    before = path.read_bytes()
    with pytest.raises(InputError, match="already in the dataset"):
        write_systems(path, t4l_systems[:1], append=True)
    assert path.read_bytes() == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.h5"]  # no temp file left


def test_open_errors(tmp_path, t4l_systems):
    with pytest.raises(InputError, match="not found"):
        open_dataset(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(InputError, match="not an HDF5 file"):
        open_dataset(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(InputError, match="not a neuralmd prepared dataset"):
        open_dataset(tmp_path / "other.h5")
    write_systems(tmp_path / "v.h5", t4l_systems[:1])
    with h5py.File(tmp_path / "v.h5", "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(InputError, match="schema version 99"):
        open_dataset(tmp_path / "v.h5")


def test_torch_dataset_collates(t4l_systems, tmp_path):
    path = tmp_path / "ds.h5"
    write_systems(path, t4l_systems)
    ds = TrajectoryDataset(path)
    assert len(ds) == 2 and ds._file is None  # lazy: nothing opened yet
    item = ds[1]
    assert item[keys.LIG_POS].shape == (100, 8, 3) and item["name"] == t4l_systems[1].name
    ds2 = pickle.loads(pickle.dumps(ds))  # what DataLoader workers receive
    assert ds2._file is None
    loader = torch.utils.data.DataLoader(ds2, batch_size=2, collate_fn=collate_systems)
    batch = next(iter(loader))
    assert batch[keys.LIG_POS].shape == (100, 16, 3) and batch[keys.ENERGY].shape == (2, 100)
    assert batch[keys.BACKBONE].shape == (208, 3, 3) and batch[keys.NUM_SYSTEMS] == 2
    with pytest.raises(InputError, match="no trajectory named nope"):
        TrajectoryDataset(path, names=["nope"])


def test_datasets_get_default_permissions_and_failures_leave_nothing(t4l_systems, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        write_systems(tmp_path / "ds.h5", t4l_systems[:1])
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "ds.h5").st_mode & 0o777 == 0o644

    def systems():
        yield t4l_systems[0]
        raise RuntimeError("reader failed half way")

    with pytest.raises(RuntimeError):
        write_systems(tmp_path / "new.h5", systems())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.h5"]  # no partial file, no temp


def test_corrupt_files_are_named(tmp_path, t4l_systems):
    path = tmp_path / "ds.h5"
    write_systems(path, t4l_systems[:1])
    half = tmp_path / "half.h5"
    half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated HDF5 file"):
        open_dataset(half)
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_dataset(tmp_path / "empty.h5")
    with pytest.raises(InputError, match="directory"):
        open_dataset(tmp_path)
    with h5py.File(path, "a") as f:  # a dataset whose group lost a field
        del f["trajectories"][t4l_systems[0].name][keys.LIG_POS]
    with open_dataset(path) as ds, pytest.raises(InputError, match="corrupt dataset"):
        ds.load(t4l_systems[0].name)
