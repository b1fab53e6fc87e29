"""Speed: frames per second of a rollout, and the speed-up over numerical MD (OpenMM).

FPS = predicted snapshots / wall time of the rollout alone, after a warm-up, as the median and
range over repeats. A batch of B trajectories counts B × snapshots frames. Unlike the reference
code's figure, no metric computation, host copies or file I/O is inside the timed region, and
no frame is counted twice.

speedup = (MD wall seconds per simulated ps) / (model wall seconds per simulated ps), where the
model covers one snapshot interval (the interval of its training data) per predicted snapshot.

Each record also holds what one extra, instrumented rollout of the same batch measured (network
evaluations, their share of the wall time, peak memory, threads; :mod:`._instrument`) and the
time to ensemble of a long rollout (:mod:`.ensemble_time`), against MD replicas when given.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from neuralmd_core import keys
from neuralmd_core import rollout as engine
from neuralmd_core.data.system import BindingSystem
from neuralmd_core.dynamics.base import Method
from neuralmd_core.errors import InputError
from neuralmd_core.evaluation._instrument import (
    evals_per_snapshot,
    instrumented_rollout,
    rollout_kwargs,
    sync,
)
from neuralmd_core.evaluation.ensemble_time import (
    DEFAULT_TOL,
    MDReference,
    convergence_snapshots,
    finite_prefix,
)
from neuralmd_core.rollout import rollout_batch


def model_labels(paths: Sequence[str | Path]) -> list[str]:
    """A distinct label per checkpoint: the shortest path suffix that tells it from the others.

    ``a/best.pt`` and ``b/best.pt`` are labelled so (not both ``best.pt``); a path given twice
    gets ``#2``, ``#3`` ... appended.
    """
    parts = [Path(p).parts or (str(p),) for p in paths]
    labels = []
    for i, mine in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i and q != mine]
        k = 1
        while k < len(mine) and any(q[-k:] == mine[-k:] for q in others):
            k += 1
        labels.append("/".join(mine[-k:]))
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, list[float]]:
    """Wall seconds of a warm-up call (allocations, lazy init, compilation) and of each repeat."""
    times = []
    for _ in range(repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], times[1:]


def time_model(
    method: Method,
    system: BindingSystem,
    snapshots: int,
    batch: int,
    repeats: int,
    device: torch.device,
    snapshot_interval_ps: float,
    compile: bool = False,
    threads: int | None = None,
) -> dict:
    """Time ``batch`` rollouts of ``system`` in one batched computation, then profile one more.

    Args:
        method, system: what is rolled out: ``batch`` samples of the complex (one protein
            encoding, as ``neuralmd rollout --samples B``).
        snapshots: predicted snapshots per rollout.
        batch: trajectories per rollout (B).
        repeats: timed rollouts after one warm-up.
        device: torch device.
        snapshot_interval_ps: simulated ps per predicted snapshot.
        compile: run the networks through ``torch.compile`` (``run_batch_rollout(compile=)``).
        threads: torch threads of the rollout, or ``None`` for the engine's automatic choice.

    Returns:
        A record with ``fps`` (median), ``fps_min``, ``fps_max``, ``batch``, ``snapshots``,
        ``device``, ``compiled``, ``threads``, ``wall_s`` (median), ``model_s_per_ps`` (wall
        seconds per simulated ps of one trajectory, i.e. median wall / (batch × snapshots ×
        interval)), ``ns_per_day`` (simulated ns per wall day, summed over the batch),
        ``compile_s`` (warm-up wall − median wall when compiled, else 0), and from one more
        rollout (:func:`._instrument.instrumented_rollout`) ``evals_per_snapshot``,
        ``eval_ms``, ``eval_share``, ``peak_mem_MiB`` and ``mem_kind``.
    """
    kwargs = rollout_kwargs(compile, threads, samples=batch)
    data = rollout_batch(method, [system], device)  # collated once, outside the timing
    warm, times = _timed(
        lambda: engine.run_batch_rollout(method, data, snapshots, **kwargs), device, repeats
    )
    frames = batch * snapshots
    median = statistics.median(times)
    per_ps = median / (frames * snapshot_interval_ps)
    rec = {"batch": batch, "compiled": bool(compile), "threads": None}
    rec.update(
        fps=frames / median,
        fps_min=frames / max(times),
        fps_max=frames / min(times),
        snapshots=snapshots,
        device=str(device),
        wall_s=median,
        model_s_per_ps=per_ps,
        ns_per_day=86400.0 / per_ps / 1000.0,
        compile_s=max(0.0, warm - median) if compile else 0.0,
        evals_per_snapshot=evals_per_snapshot(method, data),
    )
    atoms = batch * int(data[keys.LIG_POS].shape[1])
    rec.update(instrumented_rollout(method, data, snapshots, kwargs, atoms))
    return rec


def model_ensemble(
    method: Method,
    system: BindingSystem,
    batch: int,
    device: torch.device,
    snapshots: int,
    threads: int | None = None,
    tol: float = DEFAULT_TOL,
) -> dict:
    """Time to ensemble of one long rollout of ``batch`` trajectories (pooled, K = B).

    Args:
        method, system, batch, device, threads: as in :func:`time_model` (eager).
        snapshots: length of the long rollout (S).
        tol: relative RMSF tolerance of :func:`.ensemble_time.convergence_snapshots`.

    Returns:
        ``ensemble_length`` (S, or the leading snapshots where every trajectory is finite) and
        ``ensemble_snapshots`` (n*, ``None`` when fewer than 2 finite snapshots).
    """
    data = rollout_batch(method, [system], device)
    kwargs = rollout_kwargs(False, threads, samples=batch)
    out = engine.run_batch_rollout(method, data, snapshots, **kwargs)
    pos = finite_prefix(out.to("cpu", torch.float64).numpy())  # (B, S, N, 3)
    n_star = convergence_snapshots(pos, tol) if pos.shape[1] >= 2 else None
    return {"ensemble_length": int(pos.shape[1]), "ensemble_snapshots": n_star}


@dataclass
class OpenMMInputs:
    """Serialized OpenMM System, Integrator and State of the same complex."""

    system_xml: Path
    integrator_xml: Path
    state_xml: Path


def time_openmm(inputs: OpenMMInputs, simulated_ps: float, repeats: int, device: str) -> dict:
    """Time the numerical MD of the same complex with OpenMM (optional extra ``openmm``).

    Args:
        inputs: the three serialized XML files.
        simulated_ps: simulated time per repeat, ps.
        repeats: number of timed repeats (after a warm-up of a tenth of the steps).
        device: ``cuda`` selects OpenMM's CUDA platform when it exists, else CPU.

    Returns:
        ``md_s_per_ps`` (median wall seconds per simulated ps), ``md_ns_per_day``, the
        ``platform`` used, the integrator time step in fs and the steps per repeat.
    """
    openmm, (system, integrator, state) = _import_openmm(), load_openmm(inputs)
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    wanted = "CUDA" if device.startswith("cuda") and "CUDA" in names else "CPU"
    try:
        context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(wanted))
        context.setState(state)
    except Exception as exc:  # OpenMM's errors are plain Exceptions
        raise InputError(inputs.system_xml, f"OpenMM cannot simulate these files ({exc})") from exc
    dt_ps = integrator.getStepSize().value_in_unit(openmm.unit.picosecond)
    steps = max(1, round(simulated_ps / dt_ps))
    integrator.step(max(1, steps // 10))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        integrator.step(steps)
        context.getState(getPositions=True)  # forces completion on asynchronous platforms
        times.append(time.perf_counter() - t0)
    per_ps = statistics.median(times) / (steps * dt_ps)
    return {
        "md_s_per_ps": per_ps,
        "md_ns_per_day": 86400.0 / per_ps / 1000.0,
        "md_platform": wanted,
        "md_timestep_fs": dt_ps * 1000.0,
        "md_steps": steps,
    }


def _import_openmm():
    try:
        import openmm
    except ImportError as exc:
        raise InputError(
            "--openmm-system", "OpenMM is not installed (pip install neuralmd[openmm])"
        ) from exc
    return openmm


def load_openmm(inputs: OpenMMInputs) -> list:
    """System, Integrator and State from their XML files, each checked to be of its kind and
    the State to hold one position per particle of the System (cheap: call it before timing).

    Raises:
        InputError: OpenMM missing, or a file missing, empty, not OpenMM XML, of another
            kind, or a State that does not belong to the System.
    """
    from neuralmd_core.io._files import check_file

    openmm = _import_openmm()
    kinds = (("System", openmm.System), ("Integrator", openmm.Integrator), ("State", openmm.State))
    objs = []
    paths = (inputs.system_xml, inputs.integrator_xml, inputs.state_xml)
    for path, (kind, cls) in zip(paths, kinds):
        path = check_file(path)
        try:
            obj = openmm.XmlSerializer.deserialize(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not a serialized OpenMM {kind} (binary content)") from exc
        except Exception as exc:  # OpenMM raises a generic Exception on bad XML
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(path, f"not a serialized OpenMM {kind} ({first})") from exc
        if not isinstance(obj, cls):
            raise InputError(path, f"a serialized {type(obj).__name__}, expected an OpenMM {kind}")
        objs.append(obj)
    system, _, state = objs
    n_pos = state.getPositions(asNumpy=True).shape[0]
    if n_pos != system.getNumParticles():
        raise InputError(
            inputs.state_xml,
            f"holds {n_pos} positions, the System {system.getNumParticles()} particles",
        )
    return objs


def run_benchmark(
    models: Sequence[tuple[str, Method, dict]],
    system: BindingSystem,
    snapshots: int,
    batches: Sequence[int],
    repeats: int,
    device: torch.device,
    openmm_inputs: OpenMMInputs | None = None,
    openmm_ps: float = 2.0,
    compile_modes: Sequence[bool] = (False,),
    threads: int | None = None,
    ensemble_snapshots: int = 0,
    md_reference: MDReference | None = None,
) -> list[dict]:
    """Benchmark each model at each batch size (and compile mode); add the comparisons given.

    Args:
        models: (label, method, checkpoint meta) triples.
        system: the complex (single-frame history).
        snapshots: predicted snapshots per trajectory.
        batches: batch sizes B.
        repeats: timed repeats per (model, batch, mode).
        device: torch device for the models.
        openmm_inputs: serialized OpenMM files of the same complex, or ``None``.
        openmm_ps: simulated ps per OpenMM repeat.
        compile_modes: ``torch.compile`` off/on, one record per mode in this order.
        threads: torch threads of the rollouts, or ``None`` for the automatic choice.
        ensemble_snapshots: length of the long rollout of the time to ensemble (0: none).
        md_reference: pooled MD replicas for the MD's time to ensemble, or ``None``.

    Returns:
        One record per (model, batch, mode): ``model``, ``method``, the fields of
        :func:`time_model`, ``snapshot_interval_ps``; with OpenMM ``md_s_per_ps`` ...
        and ``speedup``; with ``ensemble_snapshots`` the fields of :func:`model_ensemble` and
        ``ensemble_wall_s``; with ``md_reference`` the ``md_ensemble_*`` fields (see
        :func:`_md_ensemble`) and, when both walls are known, ``ensemble_speedup``.
    """
    md = time_openmm(openmm_inputs, openmm_ps, repeats, str(device)) if openmm_inputs else None
    md_ens = _md_ensemble(md_reference, md)
    records = []
    for label, method, meta in models:
        interval = float(meta.get("snapshot_interval_ps", 1.0))
        for b in batches:
            ens = None
            if ensemble_snapshots > 0:
                ens = model_ensemble(method, system, b, device, ensemble_snapshots, threads)
            for mode in compile_modes:
                rec = {"model": label, "method": meta.get("method", method.name)}
                rec.update(time_model(method, system, snapshots, b, repeats, device, interval,
                                      compile=mode, threads=threads))  # fmt: skip
                rec["snapshot_interval_ps"] = interval
                if md is not None:
                    rec.update(md)
                    rec["speedup"] = md["md_s_per_ps"] / rec["model_s_per_ps"]
                records.append(_with_ensemble(rec, ens, md_ens))
    return records


def _md_ensemble(ref: MDReference | None, md: dict | None) -> dict | None:
    """The MD's time to ensemble: ``md_ensemble_snapshots`` (n*, frames), ``_length`` (frames
    per replica), ``_replicas`` (K), ``md_frame_interval_ps`` and, with the OpenMM timing,
    ``md_ensemble_wall_s`` = K × n* × interval × md_s_per_ps."""
    if ref is None:
        return None
    out = {
        "md_ensemble_snapshots": ref.snapshots,
        "md_ensemble_length": ref.length,
        "md_ensemble_replicas": ref.replicas,
        "md_frame_interval_ps": ref.interval_ps,
    }
    if md is not None:
        out["md_ensemble_wall_s"] = (
            ref.replicas * ref.snapshots * ref.interval_ps * md["md_s_per_ps"]
        )
    return out


def _with_ensemble(rec: dict, ens: dict | None, md_ens: dict | None) -> dict:
    """``rec`` with the time-to-ensemble fields: the model's wall is n* × median wall per
    snapshot of this batch; ``ensemble_speedup`` = MD ensemble wall / model ensemble wall."""
    if ens is not None:
        rec.update(ens)
        n_star = ens["ensemble_snapshots"]
        per_snapshot = rec["wall_s"] / rec["snapshots"]
        rec["ensemble_wall_s"] = None if n_star is None else n_star * per_snapshot
    if md_ens is not None:
        rec.update(md_ens)
    wall, md_wall = rec.get("ensemble_wall_s"), rec.get("md_ensemble_wall_s")
    if wall and md_wall is not None:
        rec["ensemble_speedup"] = md_wall / wall
    return rec


def machine_description(device: torch.device) -> dict:
    """Where the figures were measured."""
    desc = {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        desc["gpu"] = torch.cuda.get_device_name(device)
    return desc
