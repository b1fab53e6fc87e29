"""The inputs of a rollout job, checked before anything is read, computed or written.

:class:`RolloutRequest` (one complex) and :class:`RolloutOptions` (the job), and the checks
``neuralmd rollout`` makes first: every option in range (each error names its option), the
device, the inputs present, the outputs free (``--force``) and never onto an input, and the
``--batch`` list well formed. The job itself is :mod:`neuralmd_core.rollout_job`.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from neuralmd_core.errors import InputError
from neuralmd_core.rollout import GuardOptions

log = logging.getLogger("neuralmd.rollout")

INIT_VELOCITIES = ("zero", "thermal", "from-traj")
_RESNAME = re.compile(r"^[A-Za-z0-9]{1,3}$")
_DEVICE = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU (with a log line); ``cpu``; ``cuda[:N]``.

    Raises:
        InputError: any other name, or a CUDA device that this machine does not have.
    """
    text = str(device).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        log.info("device auto: no CUDA device, using the CPU")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    found = _DEVICE.match(text)
    if found is None:
        raise InputError("--device", f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise InputError("--device", f"{device} requested but no CUDA device is available")
    if found.group(1) is None:
        return torch.device("cuda")
    index, count = int(found.group(1)), torch.cuda.device_count()
    if index >= count:
        raise InputError("--device", f"{device}: this machine has {count} CUDA device(s), "
                         f"cuda:0 to cuda:{count - 1}")  # fmt: skip
    return torch.device("cuda", index)


@dataclass
class RolloutRequest:
    """One complex to roll out: inputs, the output trajectory path, and which PDB residue is
    the ligand (``ligand_resname`` is also the residue name written for it)."""

    complex_pdb: Path
    ligand: Path
    output: Path
    ligand_resname: str | None = None
    ligand_chain: str | None = None
    ligand_resid: int | None = None


@dataclass
class RolloutOptions:
    """Options shared by every complex of a job (see ``neuralmd rollout --help``).

    ``progress`` draws a bar over the snapshots on stderr where bars are enabled
    (:mod:`neuralmd_core.progress`).
    """

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
    progress: bool = True
    compile: str = "auto"  # auto | yes | no
    history: Path | None = None
    history_top: Path | None = None


def at_least_one(option: str, value: int) -> None:
    if int(value) < 1:
        raise InputError(option, f"must be at least 1 (got {value})")


def _check_guard(guard: GuardOptions) -> None:
    """Guard thresholds: positive distances (``inf`` turns a maximum off), a stretch above 1."""
    if not guard.max_displacement_A > 0:
        raise InputError("--max-displacement",
                         f"must be a distance > 0 Å (got {guard.max_displacement_A})")  # fmt: skip
    if not guard.max_bond_stretch > 1:
        raise InputError("--max-bond-stretch", "must be a ratio > 1 to the input bond length "
                         f"(got {guard.max_bond_stretch})")  # fmt: skip
    d = guard.min_backbone_distance_A
    if not (math.isfinite(d) and d > 0):
        raise InputError("--min-backbone-distance", f"must be a finite distance > 0 Å (got {d})")


#: values of ``--compile``
COMPILE_CHOICES = {"auto": "auto", "yes": True, "no": False}


def _check_velocity_options(opts: RolloutOptions) -> None:
    if opts.init_velocity not in INIT_VELOCITIES:
        raise InputError("--init-velocity", f"unknown mode {opts.init_velocity!r}; use "
                         f"{', '.join(INIT_VELOCITIES)}")  # fmt: skip
    t = float(opts.temperature_K)
    if not (math.isfinite(t) and t > 0):
        raise InputError("--temperature", f"must be a temperature > 0 K (got {t:g})")
    if opts.init_velocity == "from-traj" and opts.velocity_traj is None:
        raise InputError("--init-velocity", "from-traj needs --velocity-traj TRAJ")
    if opts.init_velocity != "from-traj" and opts.velocity_traj is not None:
        raise InputError("--velocity-traj", "is only used with --init-velocity from-traj")
    if opts.velocity_top is not None and opts.velocity_traj is None:
        raise InputError("--velocity-top", "is only used with --velocity-traj")


def check_options(opts: RolloutOptions) -> None:
    """Refuse out-of-range options before any file is read (each error names its option).

    Raises:
        InputError: snapshots/samples below 1, a seed outside [0, 2^64), an unknown device or
            initial-velocity mode, a temperature that is not > 0 K, a guard threshold out of
            range, velocity files without ``from-traj``, an unknown ``--compile``, or
            ``--history-top`` without ``--history``.
    """
    at_least_one("--snapshots", opts.snapshots)
    at_least_one("--samples", opts.samples)
    if not 0 <= int(opts.seed) < 2**64:
        raise InputError("--seed", f"must be in [0, 2^64) (got {opts.seed})")
    if str(opts.device).strip().lower() != "auto":
        resolve_device(opts.device)
    _check_velocity_options(opts)
    _check_guard(opts.guard)
    if opts.compile not in COMPILE_CHOICES:
        raise InputError("--compile", f"unknown value {opts.compile!r} (use auto, yes or no)")
    if opts.history_top is not None and opts.history is None:
        raise InputError("--history-top", "is only used with --history")


def check_request(req: RolloutRequest) -> None:
    """The ligand options of one request: a 1-3 character residue name, a chain ID."""
    if req.ligand_resname is not None and not _RESNAME.match(req.ligand_resname.strip()):
        raise InputError("--ligand-resname", f"{req.ligand_resname!r} is not a residue name "
                         "(1 to 3 letters or digits)")  # fmt: skip
    if req.ligand_chain is not None and not req.ligand_chain.strip():
        raise InputError("--ligand-chain", "is empty (give a chain ID, e.g. A)")


def output_paths(output: Path, samples: int) -> list[Path]:
    if samples == 1:
        return [output]
    return [output.with_name(f"{output.stem}_{k}{output.suffix}") for k in range(samples)]


def status_path_for(trajectory: Path) -> Path:
    """``traj.status.json`` beside ``traj.xtc``: the guard's verdict when it fired."""
    return Path(trajectory).with_suffix(".status.json")


def outputs_of(path: Path) -> list[Path]:
    """The files a trajectory comes with: itself, its topology PDB, its status JSON."""
    from neuralmd_core.io.writers import topology_path_for

    return [path, topology_path_for(path), status_path_for(path)]


def check_outputs(req: RolloutRequest, opts: RolloutOptions, model: Path) -> None:
    """Fail before any computation (and without creating anything) on a bad request.

    Raises:
        InputError: a missing/empty input, an output that is a folder, of an unknown extension,
            below a file, onto an input, or existing without ``--force``.
    """
    from neuralmd_core.io._files import check_file
    from neuralmd_core.io.writers import TRAJECTORY_FORMATS

    for path in (req.complex_pdb, req.ligand, opts.history, opts.history_top):
        if path is not None:
            check_file(path)
    if req.output.is_dir():
        raise InputError(req.output, "is a directory; -o takes the trajectory file to write")
    if req.output.suffix.lower() not in TRAJECTORY_FORMATS:
        raise InputError(req.output, f"unknown trajectory extension {req.output.suffix!r}; "
                         f"use one of {' '.join(TRAJECTORY_FORMATS)}")  # fmt: skip
    if req.output.suffix.lower() == ".h5" and importlib.util.find_spec("tables") is None:
        raise InputError(req.output, ".h5 output needs the 'tables' package (pip install tables)")
    parent = next((p for p in req.output.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise InputError(req.output, f"{parent} is not a folder")
    inputs = [req.complex_pdb, req.ligand, model, opts.velocity_traj, opts.velocity_top,
              opts.history, opts.history_top]  # fmt: skip
    inputs = {Path(p).resolve() for p in inputs if p is not None}
    for traj in output_paths(req.output, opts.samples):
        for path in outputs_of(traj):
            if path.resolve() in inputs:
                raise InputError(path, "output would overwrite an input file")
            if path.is_dir():
                raise InputError(path, "is a directory, in the way of an output file")
            if path.exists() and not opts.force:
                raise InputError(path, "output exists (use --force to overwrite)")


def read_batch_list(path: Path, outdir: Path, suffix: str = ".xtc") -> list[RolloutRequest]:
    """Parse a ``--batch`` list: one complex per line, ``PDB<TAB>SDF<TAB>NAME`` (``#`` comments).

    Relative paths are resolved against the list's folder. Outputs go to ``outdir/NAME.xtc``.

    Raises:
        InputError: a missing/empty/binary list, a line without three fields, a NAME that is
            not a plain file name, repeated names, or no complex at all.
    """
    from neuralmd_core.io._files import check_file

    p = check_file(path)
    base = p.resolve().parent
    requests: list[RolloutRequest] = []
    try:
        with open(p, newline="") as handle:
            rows = list(enumerate(csv.reader(handle, delimiter="\t"), start=1))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(p, f"not a tab-separated text list ({type(exc).__name__})") from exc
    for lineno, row in rows:
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3 or not all(c.strip() for c in row[:3]):
            raise InputError(p, f"line {lineno}: expected PDB, SDF and NAME separated by tabs")
        pdb, sdf, name = (c.strip() for c in row[:3])
        if Path(name).name != name or name in (".", ".."):
            raise InputError(p, f"line {lineno}: NAME {name!r} must be a file name, not a path")
        requests.append(RolloutRequest(base / pdb, base / sdf, Path(outdir) / f"{name}{suffix}"))
    if not requests:
        raise InputError(p, "no complexes listed")
    names = [r.output.name for r in requests]
    if len(set(names)) != len(names):
        raise InputError(p, "output names must be unique")
    return requests
