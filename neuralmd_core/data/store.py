"""The prepared dataset: one HDF5 file, one group per trajectory, read lazily.

Schema (``docs/data-format.md``): file attributes ``format``, ``schema_version`` and
``units_*``; group ``/trajectories/<name>`` per trajectory with the :class:`BindingSystem`
fields as chunked datasets (Å, ps, amu, kcal/mol) and ``name``, ``system_id``,
``lig_resname`` and ``provenance`` (a JSON string) as attributes.

Nothing here imports torch: opening and checking a dataset is cheap, so commands validate their
inputs before the heavy imports. Files appear atomically with the default permissions
(``io._atomic``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from neuralmd_core import keys
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.errors import InputError
from neuralmd_core.io._atomic import atomic_output

#: file names a prepared dataset may have
SUFFIXES = (".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

FORMAT = "neuralmd-prepared"
SCHEMA_VERSION = 1
ROOT = "trajectories"
_STR = h5py.string_dtype("utf-8")
# dataset name -> (BindingSystem attribute, numpy dtype or None for strings)
_ARRAYS: dict[str, tuple[str, Any]] = {
    keys.BACKBONE: ("backbone", np.float32),
    keys.RES_TYPE: ("res_type", np.int64),
    "res_name": ("res_name", None),
    keys.RES_NUMBER: ("res_number", np.int64),
    keys.CHAIN_ID: ("chain_id", None),
    keys.LIG_Z: ("lig_z", np.int64),
    keys.LIG_MASS: ("lig_mass", np.float32),
    keys.LIG_BONDS: ("lig_bonds", np.int64),
    keys.LIG_BOND_ORDER: ("lig_bond_order", np.float32),
    keys.LIG_POS: ("lig_pos", np.float32),
    keys.TIME: ("time_ps", np.float64),
    "lig_atom_names": ("lig_atom_names", None),
}


def _write_group(root: h5py.Group, system: BindingSystem) -> None:
    try:
        system.validate()
    except ValueError as exc:
        raise InputError(system.name, f"invalid system: {exc}") from exc
    if not system.name or "/" in system.name:
        raise InputError(system.name, "trajectory names must be non-empty and contain no '/'")
    if system.name in root:
        raise InputError(system.name, "a trajectory with this name is already in the dataset")
    g = root.create_group(system.name)
    items = [(k, getattr(system, a), dt) for k, (a, dt) in _ARRAYS.items()]
    if system.energy is not None:
        items.append((keys.ENERGY, system.energy, np.float64))
    if system.pocket_xyz is not None:
        items.append((keys.POCKET_XYZ, system.pocket_xyz, np.float32))
    for key, value, dtype in items:
        if dtype is None:
            arr = np.array([str(v) for v in value], dtype=object)
            g.create_dataset(key, data=arr, dtype=_STR)
            continue
        arr = np.ascontiguousarray(value, dtype=dtype)
        if arr.size == 0:
            g.create_dataset(key, data=arr)
        elif key == keys.LIG_POS:
            chunk = (min(arr.shape[0], 128), arr.shape[1], 3)
            g.create_dataset(key, data=arr, chunks=chunk, compression="gzip", compression_opts=4)
        else:
            g.create_dataset(key, data=arr, chunks=True)
    g.attrs["name"] = system.name
    g.attrs["system_id"] = system.system_id or system.name
    g.attrs["lig_resname"] = system.lig_resname
    g.attrs["provenance"] = json.dumps(system.provenance, default=str)
    g.attrs["snapshot_interval_ps"] = system.snapshot_interval_ps


class DatasetWriter:
    """Add systems one at a time to a dataset that appears atomically on ``close()``.

    Writes into a temporary file in the destination folder (a copy of the existing file with
    ``append=True``) and renames it over ``path`` only when everything succeeded; the file gets
    the permissions ``open()`` would give it (``0o666`` minus the umask).
    """

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.count = 0
        if append and self.path.exists():
            open_dataset(self.path).close()  # refuse to append to a non-dataset
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_output(self.path))
        try:
            if append and self.path.exists():
                shutil.copyfile(self.path, self._tmp)
                self._file = h5py.File(self._tmp, "a")
            else:
                self._file = h5py.File(self._tmp, "w")
                self._file.attrs["format"] = FORMAT
                self._file.attrs["schema_version"] = SCHEMA_VERSION
                for dim, unit in keys.UNITS.items():
                    self._file.attrs[f"units_{dim}"] = unit
            self._root = self._file.require_group(ROOT)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise

    def add(self, system: BindingSystem) -> None:
        """Write one trajectory group (InputError on a duplicate name or an invalid system)."""
        _write_group(self._root, system)
        self.count += 1

    def close(self) -> None:
        """Finish and move the file into place."""
        try:
            self._file.close()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.close()

    def abort(self) -> None:
        """Drop everything written; the destination is untouched."""
        try:
            self._file.close()
        finally:
            aborted = InputError(self.path, "aborted")
            self._stack.__exit__(type(aborted), aborted, None)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_systems(path: str | Path, systems: Iterable[BindingSystem], append: bool = False) -> None:
    """Write systems to a prepared dataset atomically (temp file + ``os.replace``).

    Args:
        path: destination ``.h5``; replaced unless ``append``.
        systems: the trajectories (any iterable; consumed one at a time).
        append: add to an existing dataset (a copy is made; duplicate names are an InputError).
    """
    with DatasetWriter(path, append=append) as writer:
        for system in systems:
            writer.add(system)


def _read_strings(ds: h5py.Dataset) -> np.ndarray:
    return np.array([s.decode() if isinstance(s, bytes) else str(s) for s in ds[()]], dtype=str)


def _open_h5(path: Path) -> h5py.File:
    """Open ``path`` read-only as HDF5, with one clear problem for every way that can fail."""
    if not path.exists():
        raise InputError(path, "dataset not found")
    if path.is_dir():
        raise InputError(path, "is a directory, expected a prepared dataset (.h5)")
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, "file is empty, expected a prepared dataset (.h5)")
    with open(path, "rb") as fh:
        signed = fh.read(8) == _HDF5_SIGNATURE
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if signed and "truncated" in str(exc):
            raise InputError(path, f"truncated HDF5 file ({size} bytes)") from exc
        if signed:
            raise InputError(path, "corrupt HDF5 file") from exc
        raise InputError(
            path, "not an HDF5 file (expected a prepared dataset from neuralmd prepare)"
        ) from exc


def _corrupt(path: Path, name: str, exc: BaseException) -> InputError:
    return InputError(
        path, f"corrupt dataset: trajectory {name!r} is unreadable ({type(exc).__name__})"
    )


class PreparedDataset:
    """Read access to a prepared dataset; only the group asked for is read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT or ROOT not in self._file:
            self._file.close()
            raise InputError(
                self.path, "an HDF5 file but not a neuralmd prepared dataset (run neuralmd prepare)"
            )
        try:
            version = int(attrs.get("schema_version", -1))
        except (TypeError, ValueError):
            version = -1
        if version != SCHEMA_VERSION:
            self._file.close()
            raise InputError(
                self.path, f"schema version {version}, this neuralmd reads {SCHEMA_VERSION}"
            )

    def names(self) -> list[str]:
        """Trajectory names in file order."""
        return list(self._file[ROOT].keys())

    def __len__(self) -> int:
        return len(self._file[ROOT])

    def group(self, name: str) -> h5py.Group:
        if name not in self._file[ROOT]:
            raise InputError(self.path, f"no trajectory named {name!r}")
        return self._file[ROOT][name]

    def load(self, name: str) -> BindingSystem:
        """The trajectory ``name`` as a :class:`BindingSystem` (reads that group only).

        Raises:
            InputError: no such trajectory, or a group that cannot be read (corrupt file).
        """
        g = self.group(name)
        try:
            return self._load(g)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise _corrupt(self.path, name, exc) from exc

    def _load(self, g: h5py.Group) -> BindingSystem:
        fields: dict[str, Any] = {}
        for key, (attr, dtype) in _ARRAYS.items():
            fields[attr] = _read_strings(g[key]) if dtype is None else g[key][()]
        fields["lig_atom_names"] = list(fields["lig_atom_names"])
        energy = g[keys.ENERGY][()] if keys.ENERGY in g else None
        pocket = g[keys.POCKET_XYZ][()] if keys.POCKET_XYZ in g else None
        return BindingSystem(
            name=str(g.attrs["name"]),
            energy=energy,
            pocket_xyz=pocket,
            lig_resname=str(g.attrs["lig_resname"]),
            system_id=str(g.attrs["system_id"]),
            provenance=json.loads(g.attrs["provenance"]),
            **fields,
        )

    def info(self) -> dict[str, Any]:
        """JSON-serialisable summary: schema, units, one entry per trajectory."""
        rows = []
        for name in self.names():
            try:
                rows.append(_row(name, self._file[ROOT][name]))
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise _corrupt(self.path, name, exc) from exc
        a = self._file.attrs
        return {
            "path": str(self.path),
            "format": str(a["format"]),
            "schema_version": int(a["schema_version"]),
            "units": {dim: str(a[f"units_{dim}"]) for dim in keys.UNITS},
            "num_trajectories": len(rows),
            "num_systems": len({r["system_id"] for r in rows}),
            "trajectories": rows,
        }

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PreparedDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _row(name: str, g: h5py.Group) -> dict[str, Any]:
    return {
        "name": name,
        "system_id": str(g.attrs["system_id"]),
        "residues": int(g[keys.RES_TYPE].shape[0]),
        "ligand_atoms": int(g[keys.LIG_Z].shape[0]),
        "frames": int(g[keys.LIG_POS].shape[0]),
        "snapshot_interval_ps": float(g.attrs["snapshot_interval_ps"]),
        "has_energy": keys.ENERGY in g,
        "provenance": json.loads(g.attrs["provenance"]),
    }


def open_dataset(path: str | Path) -> PreparedDataset:
    """Open a prepared dataset (InputError when missing, not a dataset, or another schema)."""
    return PreparedDataset(path)


_ITEM_KEYS = (
    keys.BACKBONE, keys.RES_TYPE, keys.LIG_Z, keys.LIG_MASS, keys.LIG_BONDS,
    keys.LIG_BOND_ORDER, keys.LIG_POS, keys.TIME,
)  # fmt: skip


class TrajectoryDataset:
    """Lazy map-style torch Dataset over a prepared file: item i is trajectory i as numpy arrays.

    (Duck-typed, so that this module needs no torch: ``torch.utils.data.DataLoader`` takes it.)

    Items are dicts keyed by ``keys`` constants (``LIG_POS`` is the full (T, N, 3) Å
    trajectory; ``ENERGY`` (T,) kcal/mol when stored) plus ``"name"`` and ``"system_id"``,
    ready for :func:`neuralmd_core.data.batch.collate_systems`. The HDF5 file is opened on
    first access in each process (DataLoader workers each open their own handle).
    """

    def __init__(self, path: str | Path, names: list[str] | None = None):
        self.path = Path(path)
        with open_dataset(self.path) as ds:
            available = ds.names()
        missing = sorted(set(names or []) - set(available))
        if missing:
            raise InputError(self.path, f"no trajectory named {', '.join(missing)}")
        self.names = list(names) if names is not None else available
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _root(self) -> h5py.Group:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file[ROOT]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = self._root()[self.names[index]]
        item: dict[str, Any] = {k: g[k][()] for k in _ITEM_KEYS}
        for key in (keys.ENERGY, keys.POCKET_XYZ):
            if key in g:
                item[key] = g[key][()]
        item["name"] = self.names[index]
        item["system_id"] = str(g.attrs["system_id"])
        return item

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None
        return state
