"""Speed: frames per second of a rollout, and the speed-up over numerical MD (OpenMM).

FPS = predicted snapshots / wall time of the rollout alone, after a warm-up, as the median and
range over repeats. A batch of B trajectories counts B × snapshots frames. Unlike the reference
code's figure, no metric computation, host copies or file I/O is inside the timed region, and
no frame is counted twice.

speedup = (MD wall seconds per simulated ps) / (model wall seconds per simulated ps), where the
model covers one snapshot interval (the interval of its training data) per predicted snapshot.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from neuralmd_core.data.system import BindingSystem
from neuralmd_core.dynamics.base import Method
from neuralmd_core.errors import InputError
from neuralmd_core.rollout import rollout_batch, run_batch_rollout


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> list[float]:
    fn()  # warm-up (allocations, lazy init, CUDA kernels)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def time_model(
    method: Method,
    system: BindingSystem,
    snapshots: int,
    batch: int,
    repeats: int,
    device: torch.device,
    snapshot_interval_ps: float,
) -> dict:
    """Time ``batch`` rollouts of ``system`` in one batched computation.

    Returns:
        A record with ``fps`` (median), ``fps_min``, ``fps_max``, ``batch``, ``snapshots``,
        ``device``, ``wall_s`` (median), ``model_s_per_ps`` (wall seconds per simulated ps of
        one trajectory, i.e. median wall / (batch × snapshots × interval)).
    """
    data = rollout_batch(method, [system] * batch, device)  # collated once, outside the timing
    times = _timed(lambda: run_batch_rollout(method, data, snapshots), device, repeats)
    frames = batch * snapshots
    median = statistics.median(times)
    return {
        "fps": frames / median,
        "fps_min": frames / max(times),
        "fps_max": frames / min(times),
        "batch": batch,
        "snapshots": snapshots,
        "device": str(device),
        "wall_s": median,
        "model_s_per_ps": median / (frames * snapshot_interval_ps),
    }


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
) -> list[dict]:
    """Benchmark each model at each batch size; add the OpenMM comparison when given.

    Args:
        models: (label, method, checkpoint meta) triples.
        system: the complex (single-frame history).
        snapshots: predicted snapshots per trajectory.
        batches: batch sizes B.
        repeats: timed repeats per (model, batch).
        device: torch device for the models.
        openmm_inputs: serialized OpenMM files of the same complex, or ``None``.
        openmm_ps: simulated ps per OpenMM repeat.

    Returns:
        One record per (model, batch): ``model``, ``method``, ``fps``, ``fps_min``, ``fps_max``,
        ``batch``, ``snapshots``, ``device``, ``snapshot_interval_ps``, ``model_s_per_ps`` and,
        with OpenMM, ``md_s_per_ps`` and ``speedup``.
    """
    md = time_openmm(openmm_inputs, openmm_ps, repeats, str(device)) if openmm_inputs else None
    records = []
    for label, method, meta in models:
        interval = float(meta.get("snapshot_interval_ps", 1.0))
        for b in batches:
            rec = {"model": label, "method": meta.get("method", method.name)}
            rec.update(time_model(method, system, snapshots, b, repeats, device, interval))
            rec["snapshot_interval_ps"] = interval
            if md is not None:
                rec.update(md)
                rec["speedup"] = md["md_s_per_ps"] / rec["model_s_per_ps"]
            records.append(rec)
    return records


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
