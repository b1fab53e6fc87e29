"""File-level rollout jobs: `neuralmd rollout COMPLEX.pdb LIGAND.sdf -o traj.xtc` and `--batch`.

Reads the inputs, resolves the model (the bundled default when none is given), runs
:func:`neuralmd_core.rollout.predict`, applies the divergence guard and writes each trajectory
(plus its topology PDB and, when the guard fired, a ``.status.json``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from neuralmd_core.errors import InputError
from neuralmd_core.rollout import GuardOptions, check_trajectory, predict, thermal_velocity

log = logging.getLogger("neuralmd.rollout")

DEFAULT_MODEL_NAME = "default_model.pt"


def default_model_path() -> Path:
    """Path of the checkpoint shipped inside the package (see docs/default-model.md)."""
    return Path(str(resources.files("neuralmd_core") / "resources" / DEFAULT_MODEL_NAME))


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU (with a log line); otherwise as given."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        log.info("device auto: no CUDA device, using the CPU")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", f"{device} requested but no CUDA device is available")
    return torch.device(device)


@dataclass
class RolloutRequest:
    """One complex to roll out: inputs and the output trajectory path."""

    complex_pdb: Path
    ligand: Path
    output: Path
    ligand_resname: str | None = None


@dataclass
class RolloutOptions:
    """Options shared by every complex of a job (see ``neuralmd rollout --help``)."""

    model: Path | None = None
    snapshots: int = 100
    samples: int = 1
    seed: int = 0
    device: str = "auto"
    init_velocity: str = "zero"  # zero | thermal | from-traj
    temperature_K: float = 300.0
    velocity_traj: Path | None = None
    velocity_top: Path | None = None
    guard: GuardOptions = field(default_factory=GuardOptions)
    force: bool = False


def _output_paths(output: Path, samples: int) -> list[Path]:
    if samples == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{k}{output.suffix}") for k in range(samples)]


def _check_outputs(req: RolloutRequest, opts: RolloutOptions) -> None:
    """Fail before any computation (and without creating anything) on a bad request."""
    from neuralmd_core.io.writers import TRAJECTORY_FORMATS, topology_path_for

    for path in (req.complex_pdb, req.ligand):
        if not Path(path).is_file():
            raise InputError(path, "file not found")
    if req.output.suffix.lower() not in TRAJECTORY_FORMATS:
        raise InputError(req.output, f"unknown trajectory extension {req.output.suffix!r}; "
                         f"use one of {' '.join(TRAJECTORY_FORMATS)}")  # fmt: skip
    parent = req.output.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(req.output, f"{parent} is not a folder")
    inputs = {Path(p).resolve() for p in (req.complex_pdb, req.ligand)}
    for traj in _output_paths(req.output, opts.samples):
        for path in (traj, topology_path_for(traj)):
            if path.resolve() in inputs:
                raise InputError(path, "output would overwrite an input file")
            if path.exists() and not opts.force:
                raise InputError(path, "output exists (use --force to overwrite)")


def _init_velocity(system, meta: dict, opts: RolloutOptions, gen: torch.Generator):
    interval = float(meta.get("snapshot_interval_ps", 1.0))
    if opts.init_velocity == "zero":
        return np.zeros((system.num_atoms, 3))
    if opts.init_velocity == "thermal":
        return thermal_velocity(system.lig_mass, opts.temperature_K, interval, gen)
    if opts.init_velocity == "from-traj":
        return _velocity_from_traj(system, opts, interval)
    raise InputError("--init-velocity", f"unknown mode {opts.init_velocity!r}")


def _velocity_from_traj(system, opts: RolloutOptions, interval_ps: float) -> np.ndarray:
    from neuralmd_core.io.writers import has_times, read_ligand_trajectory

    if opts.velocity_traj is None:
        raise InputError("--init-velocity", "from-traj needs --velocity-traj TRAJ")
    top = opts.velocity_top or opts.velocity_traj
    pos, times, *_ = read_ligand_trajectory(opts.velocity_traj, top, system.lig_resname)
    if pos.shape[0] < 2:
        raise InputError(opts.velocity_traj, "needs at least two frames to estimate a velocity")
    if pos.shape[1] != system.num_atoms:
        raise InputError(
            opts.velocity_traj,
            f"ligand has {pos.shape[1]} heavy atoms, the input ligand has {system.num_atoms}",
        )
    velocity = pos[-1] - pos[-2]  # Å per frame step of the trajectory
    if not has_times(opts.velocity_traj):  # DCD/PDB: assumed at the model's interval
        return velocity
    dt = float(times[-1] - times[-2])
    if not dt > 0:
        raise InputError(opts.velocity_traj, f"last two frames are {dt} ps apart")
    if abs(dt - interval_ps) > 1e-6 * interval_ps:
        log.info("--velocity-traj: frames %g ps apart, model interval %g ps", dt, interval_ps)
    return velocity * (interval_ps / dt)  # Å per snapshot interval of the model


def run_rollout(requests: list[RolloutRequest], opts: RolloutOptions) -> list[dict]:
    """Roll out each request (all in one batched computation) and write the files.

    Returns:
        One status record per written trajectory (path, snapshots written, guard verdict).
    """
    from neuralmd_core.data.prepare import system_from_pdb_sdf
    from neuralmd_core.dynamics.checkpoint import load_method

    if opts.snapshots < 1 or opts.samples < 1:
        raise InputError("--snapshots/--samples", "must be at least 1")
    model_path = Path(opts.model) if opts.model is not None else default_model_path()
    if not model_path.is_file():
        raise InputError(model_path, "checkpoint not found")
    for req in requests:
        _check_outputs(req, opts)
    device = resolve_device(opts.device)
    method, meta = load_method(model_path, map_location="cpu")
    if opts.init_velocity != "zero" and not getattr(method, "uses_velocity", True):
        raise InputError(
            "--init-velocity",
            f"{opts.init_velocity!r} means nothing to {model_path.name} ({method.name}, overdamped: "
            "it has no velocities); leave --init-velocity at zero",
        )
    gen = torch.Generator().manual_seed(int(opts.seed))
    loaded = [system_from_pdb_sdf(r.complex_pdb, r.ligand, r.ligand_resname) for r in requests]
    systems = [item[0] for item in loaded]
    velocities = [_init_velocity(s, meta, opts, gen) for s in systems]
    preds = predict(method, systems, opts.snapshots, opts.samples, opts.seed, device, velocities)
    interval = float(meta.get("snapshot_interval_ps", 1.0))
    records = []
    for req, (system, top, xyz), pred in zip(requests, loaded, preds):
        records += _write_outputs(req, opts, system, top, xyz, pred, interval, meta)
    return records


def _write_outputs(req, opts, system, top, xyz, pred, interval, meta) -> list[dict]:
    from neuralmd_core.io.writers import write_trajectory

    start = system.lig_pos[-1]
    backbone = system.backbone.reshape(-1, 3)
    req.output.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for k, path in enumerate(_output_paths(req.output, opts.samples)):
        verdict = check_trajectory(pred[k], start, system.lig_bonds, backbone, opts.guard)
        frames = np.concatenate([start[None], pred[k][: verdict.valid_snapshots]], axis=0)
        times = np.arange(frames.shape[0], dtype=np.float64) * interval
        write_trajectory(
            path, top, xyz, system.lig_z, system.lig_atom_names, system.lig_resname,
            frames, times, system.lig_bonds,
        )  # fmt: skip
        status_path = path.with_suffix(".status.json")
        record = {
            "trajectory": str(path),
            "snapshots_written": int(frames.shape[0]),
            "snapshot_interval_ps": interval,
            "method": meta.get("method"),
            **verdict.as_dict(),
        }
        if verdict.reason is not None:
            _write_json(status_path, record)
        elif status_path.exists():
            status_path.unlink()
        records.append(record)
    return records


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)


def read_batch_list(path: Path, outdir: Path, suffix: str = ".xtc") -> list[RolloutRequest]:
    """Parse a ``--batch`` list: one complex per line, ``PDB<TAB>SDF<TAB>NAME`` (``#`` comments).

    Relative paths are resolved against the list's folder. Outputs go to ``outdir/NAME.xtc``.
    """
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    base = Path(path).resolve().parent
    requests: list[RolloutRequest] = []
    with open(path, newline="") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise InputError(
                    path, f"line {lineno}: expected PDB, SDF and NAME separated by tabs"
                )
            pdb, sdf, name = (c.strip() for c in row[:3])
            requests.append(
                RolloutRequest(base / pdb, base / sdf, Path(outdir) / f"{name}{suffix}")
            )
    if not requests:
        raise InputError(path, "no complexes listed")
    names = [r.output.name for r in requests]
    if len(set(names)) != len(names):
        raise InputError(path, "output names must be unique")
    return requests


def shard_for_rank(items: list, rank: int | None = None, world: int | None = None) -> list:
    """This process's share of ``items`` under torchrun (``RANK``/``WORLD_SIZE``), else all."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else world
    return items[rank::world]


def run_batch(
    list_path: Path, outdir: Path, opts: RolloutOptions, batch_size: int = 16
) -> list[dict]:
    """Roll out every complex of a list, ``batch_size`` complexes per batched computation,
    sharded across torchrun ranks. Returns the status records of this rank."""
    requests = shard_for_rank(read_batch_list(list_path, Path(outdir)))
    records: list[dict] = []
    for i in range(0, len(requests), max(1, batch_size)):
        records += run_rollout(requests[i : i + batch_size], opts)
    return records
