"""File-level rollout jobs: `neuralmd rollout COMPLEX.pdb LIGAND.sdf -o traj.xtc` and `--batch`.

Checks the options and every input first (nothing is computed or written before they pass),
resolves the model (the bundled default when none is given), runs
:func:`neuralmd_core.rollout.predict`, applies the divergence guard and writes each
trajectory with its topology PDB and, when the guard fired, a ``.status.json``. The files of
one complex (all its samples) are written to temporary names and renamed together: they
appear all at once or not at all.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from neuralmd_core.errors import InputError
from neuralmd_core.rollout import check_trajectory, predict, thermal_velocity
from neuralmd_core.rollout_inputs import (  # noqa: F401 (some re-exported)
    COMPILE_CHOICES,
    RolloutOptions,
    RolloutRequest,
    at_least_one,
    check_options,
    check_outputs,
    check_request,
    output_paths,
    outputs_of,
    read_batch_list,
    resolve_device,
    status_path_for,
)

log = logging.getLogger("neuralmd.rollout")

DEFAULT_MODEL_NAME = "default_model.pt"
#: protein-ligand distance (Å) a network sees when its checkpoint names none (BindingNet's default)
DEFAULT_CUTOFF_A = 5.0


def default_model_path() -> Path:
    """Path of the checkpoint shipped inside the package (see docs/default-model.md)."""
    return Path(str(resources.files("neuralmd_core") / "resources" / DEFAULT_MODEL_NAME))


def _init_velocity(system, meta: dict, opts: RolloutOptions) -> np.ndarray:
    """The request's initial velocity, Å per snapshot interval (thermal: seeded per complex,
    so a complex gets the same velocity in a ``--batch`` as alone)."""
    interval = float(meta.get("snapshot_interval_ps", 1.0))
    if opts.init_velocity == "thermal":
        gen = torch.Generator().manual_seed(int(opts.seed))
        return thermal_velocity(system.lig_mass, opts.temperature_K, interval, gen)
    if opts.init_velocity == "from-traj":
        return _velocity_from_traj(system, opts, interval)
    return np.zeros((system.num_atoms, 3))


def _ligand_of(traj: Path, top: Path | None, system):
    """The ligand of trajectory ``traj`` (topology ``top``, or ``traj`` itself for PDB/HDF5),
    found by ``system``'s residue name (``io.writers.read_ligand_trajectory``).

    Raises:
        InputError: it has another number of heavy atoms than ``system``'s ligand.
    """
    from neuralmd_core.io.writers import read_ligand_trajectory

    lig = read_ligand_trajectory(traj, top or traj, system.lig_resname)
    if lig.lig_pos_A.shape[1] != system.num_atoms:
        raise InputError(traj, f"ligand has {lig.lig_pos_A.shape[1]} heavy atoms, the input "
                         f"ligand has {system.num_atoms}")  # fmt: skip
    return lig


def _velocity_from_traj(system, opts: RolloutOptions, interval_ps: float) -> np.ndarray:
    from neuralmd_core.io.writers import has_times

    pos, times, *_ = _ligand_of(opts.velocity_traj, opts.velocity_top, system)
    if pos.shape[0] < 2:
        raise InputError(opts.velocity_traj, "needs at least two frames to estimate a velocity")
    velocity = pos[-1] - pos[-2]  # Å per frame step of the trajectory
    if not np.isfinite(velocity).all():
        raise InputError(opts.velocity_traj, "last two frames give a NaN/inf velocity")
    if not has_times(opts.velocity_traj):  # PDB, untimed DCD: assumed at the model's interval
        return velocity
    dt = float(times[-1] - times[-2])
    if not dt > 0:
        raise InputError(opts.velocity_traj, f"last two frames are {dt} ps apart")
    if abs(dt - interval_ps) > 1e-6 * interval_ps:
        log.info("--velocity-traj: frames %g ps apart, model interval %g ps", dt, interval_ps)
    return velocity * (interval_ps / dt)  # Å per snapshot interval of the model


def with_history(system, traj: Path, top: Path | None):
    """``system`` with its known history ``lig_pos (H, N, 3)`` Å and ``time_ps`` taken from the
    ligand of trajectory ``traj`` (topology ``top``, or ``traj`` itself for PDB/HDF5): the last
    frame is the start, and a method that uses the history (the torsion prior of
    ``neuralmd-sde``, the tether's mean pose) sees all of it.

    Raises:
        InputError: the trajectory's ligand differs from the input ligand (atom count, element
            order) or has NaN/inf coordinates.
    """
    import dataclasses

    lig = _ligand_of(traj, top, system)
    if not np.array_equal(np.asarray(lig.lig_z), np.asarray(system.lig_z)):
        raise InputError(traj, "ligand atoms are not in the input ligand's element order")
    if not np.isfinite(lig.lig_pos_A).all():
        raise InputError(traj, "ligand coordinates contain NaN/inf")
    return dataclasses.replace(
        system, lig_pos=lig.lig_pos_A.astype(np.float32),
        time_ps=np.asarray(lig.time_ps, dtype=np.float64), energy=None, lig_anchor=None,
    )  # fmt: skip


@dataclass
class _Loaded:
    """One request with its inputs read: the system, protein topology/coordinates, velocity."""

    request: RolloutRequest
    system: object
    top: object
    xyz: np.ndarray
    velocity: np.ndarray


def _load_model(opts: RolloutOptions):
    from neuralmd_core.dynamics.checkpoint import load_method

    model_path = Path(opts.model) if opts.model is not None else default_model_path()
    method, meta = load_method(model_path, map_location="cpu")
    if opts.init_velocity != "zero" and not getattr(method, "uses_velocity", True):
        raise InputError(
            "--init-velocity",
            f"{opts.init_velocity!r} means nothing to {model_path.name} ({method.name}, overdamped: "
            "it has no velocities); leave --init-velocity at zero",
        )
    return method, meta


def pocket_cutoff_A(method) -> float:
    """How far (Å) the method's network sees protein residues: its checkpoint's cutoff."""
    options = getattr(method, "model_options", None) or {}
    return float(options.get("cutoff", DEFAULT_CUTOFF_A))


def _load_inputs(requests, opts: RolloutOptions, method, meta) -> list[_Loaded]:
    from neuralmd_core.data.pdb_sdf import system_from_pdb_sdf

    cutoff = pocket_cutoff_A(method)
    out = []
    for r in requests:
        system, top, xyz = system_from_pdb_sdf(
            r.complex_pdb, r.ligand, r.ligand_resname, ligand_chain=r.ligand_chain,
            ligand_resid=r.ligand_resid, pocket_cutoff_A=cutoff,
        )  # fmt: skip
        if opts.history is not None:
            system = with_history(system, opts.history, opts.history_top)
        out.append(_Loaded(r, system, top, xyz, _init_velocity(system, meta, opts)))
    return out


def _roll(requests: list[RolloutRequest], opts: RolloutOptions, chunk: int) -> list[dict]:
    """Check everything, read every input, then roll out ``chunk`` complexes at a time."""
    check_options(opts)
    at_least_one("--batch-size", chunk)
    model_path = Path(opts.model) if opts.model is not None else default_model_path()
    for req in requests:
        check_request(req)
        check_outputs(req, opts, model_path)
    device = resolve_device(opts.device)
    method, meta = _load_model(opts)
    loaded = _load_inputs(requests, opts, method, meta)
    interval = float(meta.get("snapshot_interval_ps", 1.0))
    records: list[dict] = []
    for start in range(0, len(loaded), chunk):
        part = loaded[start : start + chunk]
        label = "rollout" if len(loaded) <= chunk else f"rollout {start + 1}-{start + len(part)}"
        preds = predict(method, [x.system for x in part], opts.snapshots, opts.samples, opts.seed,
                        device, [x.velocity for x in part], label if opts.progress else None,
                        COMPILE_CHOICES[opts.compile])  # fmt: skip
        for item, pred in zip(part, preds):
            records += _write_outputs(item, opts, pred, interval, meta)
    return records


def run_rollout(requests: list[RolloutRequest], opts: RolloutOptions) -> list[dict]:
    """Roll out each request (all in one batched computation) and write the files.

    Returns:
        One status record per written trajectory (path, snapshots written, guard verdict).

    Raises:
        InputError: a bad option or input (before anything is computed or written).
    """
    return _roll(list(requests), opts, max(1, len(requests)))


def _write_outputs(item: _Loaded, opts: RolloutOptions, pred, interval: float, meta) -> list:
    """Guard and write every sample of one request, all files renamed into place together."""
    from neuralmd_core.io._atomic import atomic_outputs

    system, req = item.system, item.request
    start = system.lig_pos[-1]
    backbone = system.backbone.reshape(-1, 3)
    plans, targets = [], []
    for k, path in enumerate(output_paths(req.output, opts.samples)):
        verdict = check_trajectory(pred[k], start, system.lig_bonds, backbone, opts.guard)
        frames = np.concatenate([start[None], pred[k][: verdict.valid_snapshots]], axis=0)
        record = {"trajectory": str(path), "snapshots_written": int(frames.shape[0]),
                  "snapshot_interval_ps": interval, "method": meta.get("method"),
                  **verdict.as_dict()}  # fmt: skip
        if verdict.reason is not None:
            record["status_file"] = str(status_path_for(path))
        plans.append((frames, record))
        targets += outputs_of(path)[: 3 if verdict.reason is not None else 2]
    created = _make_folder(req.output.parent)
    try:
        with atomic_outputs(targets) as temps:
            slots = iter(temps)
            for frames, record in plans:
                times = np.arange(frames.shape[0], dtype=np.float64) * interval
                _write_pair(next(slots), next(slots), item, frames, times)
                if record["reason"] is not None:
                    next(slots).write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    for _frames, record in plans:  # an earlier run's verdict (replaced with --force)
        if record["reason"] is None:
            status_path_for(Path(record["trajectory"])).unlink(missing_ok=True)
    return [record for _frames, record in plans]


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return those created, deepest first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _write_pair(tmp_traj: Path, tmp_top: Path, item: _Loaded, frames, times) -> None:
    """The trajectory at ``tmp_traj`` and its topology PDB at ``tmp_top`` (temporary names)."""
    from neuralmd_core.io.writers import topology_path_for, write_trajectory

    s = item.system
    written_top = topology_path_for(tmp_traj)
    try:
        write_trajectory(tmp_traj, item.top, item.xyz, s.lig_z, s.lig_atom_names, s.lig_resname,
                         frames, times, s.lig_bonds)  # fmt: skip
        os.replace(written_top, tmp_top)
    finally:
        written_top.unlink(missing_ok=True)


def shard_for_rank(items: list, rank: int | None = None, world: int | None = None) -> list:
    """This process's share of ``items`` under torchrun (``RANK``/``WORLD_SIZE``), else all."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else world
    return items[rank::world]


def run_batch(
    list_path: Path, outdir: Path, opts: RolloutOptions, batch_size: int = 16
) -> list[dict]:
    """Roll out every complex of a list, ``batch_size`` complexes per batched computation,
    sharded across torchrun ranks. Every input is read before the first computation; the files
    of each complex appear together once it is done. Returns the status records of this rank.

    Raises:
        InputError: a bad list, option, input or output folder (nothing written).
    """
    at_least_one("--batch-size", batch_size)
    if opts.history is not None:
        raise InputError("--history", "continues one complex's trajectory; not with --batch")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; with --batch, -o takes a folder")
    if out.suffix.lower() in (".xtc", ".dcd", ".trr", ".nc", ".h5", ".pdb") and not out.exists():
        raise InputError(out, "with --batch, -o takes a folder, not a trajectory file name")
    requests = shard_for_rank(read_batch_list(list_path, out))
    return _roll(requests, opts, batch_size)
