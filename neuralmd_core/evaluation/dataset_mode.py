"""Dataset mode of ``neuralmd evaluate``: checkpoints rolled out on a prepared dataset's split.

Each checkpoint is evaluated with the protocol stored in it (task and splits). The paired
metrics score the split's predicted snapshots; the realism metrics score a rollout of
``snapshots`` snapshots from the last known one against the whole reference trajectory. Both
come from one rollout per method: its first snapshots are the paired range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from neuralmd_core.errors import InputError
from neuralmd_core.evaluation import metrics as M
from neuralmd_core.evaluation import realism as R
from neuralmd_core.evaluation._files import safe_name, write_system_trajectory
from neuralmd_core.evaluation.evaluate import (
    EvaluationReport,
    check_plot,
    common_meta,
    score,
    snapshot_rows,
    summarize_method,
)

#: snapshots rolled out for the realism metrics (``--snapshots``)
REALISM_SNAPSHOTS = 200


@dataclass(frozen=True)
class Protocol:
    """Which trajectories and snapshots are predicted, from which history.

    Attributes:
        task: ``"single"`` or ``"multi"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        names: trajectory names scored.
        frames: ``(first, stop)`` predicted snapshots for the single task (half-open); the
            history is ``[0, first)``. ``None`` for the multi task: history = snapshot 0,
            predict 1..T−1 of each trajectory.
    """

    task: str
    split: str
    names: tuple[str, ...]
    frames: tuple[int, int] | None = None

    def ranges(self, num_frames: int) -> tuple[int, int, int]:
        """``(history, first, stop)``: known frames ``[0, history)``, predicted ``[first, stop)``."""
        if self.frames is None:
            return 1, 1, num_frames
        first, stop = self.frames
        return max(first, 1), max(first, 1), min(stop, num_frames)

    def describe(self) -> dict:
        return {"task": self.task, "split": self.split, "trajectories": list(self.names),
                "predicted_frames": list(self.frames) if self.frames else "1..T-1",
                "history": "0..first-1" if self.frames else "frame 0"}  # fmt: skip


def protocol_from_meta(meta: dict, split: str, ckpt: str | Path) -> Protocol:
    """The evaluation protocol of a checkpoint (its task and stored splits) on ``split``."""
    task = str(meta.get("task", ""))
    splits = meta.get("splits") or {}
    if task not in ("single", "multi") or split not in splits:
        raise InputError(ckpt, f"checkpoint has no task/split {split!r} (task {task or 'unknown'!r}, "
                         f"splits {sorted(k for k in splits if k in ('train', 'val', 'test'))})")  # fmt: skip
    names = tuple(str(n) for n in splits[split])
    if not names:
        raise InputError(ckpt, f"split {split!r} is empty")
    if task == "multi":
        return Protocol(task, split, names)
    frames = splits.get(f"{split}_frames", meta.get(f"{split}_frames"))
    if frames is None:
        raise InputError(ckpt, f"single-task checkpoint lacks {split}_frames")
    return Protocol(task, split, names, (int(frames[0]), int(frames[1])))


@dataclass(frozen=True)
class Scoring:
    """What is scored and how: paired metrics, realism members, their options."""

    paired: tuple[str, ...]
    realism: tuple[str, ...]
    stability_threshold: float = M.STABILITY_THRESHOLD_A
    snapshots: int = REALISM_SNAPSHOTS
    seed: int = 0
    samples: int = 1

    def length(self, protocol: Protocol, num_frames: int) -> int:
        """Snapshots to roll out: the paired range, or more for the realism metrics."""
        _, first, stop = protocol.ranges(num_frames)
        n = (stop - first) if self.paired else 0
        return max(n, self.snapshots if self.realism else 0)


def _run_method(method, systems: list, protocol: Protocol, sc: Scoring) -> list[np.ndarray]:
    """Predictions (K, S_i, N_i, 3) Å for each system under ``protocol`` (batched by shape)."""
    from neuralmd_core.rollout import predict

    samples = sc.samples if method.stochastic else 1
    out: list[np.ndarray | None] = [None] * len(systems)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(systems):
        groups.setdefault((protocol.ranges(s.num_frames)[0], sc.length(protocol, s.num_frames)),
                          []).append(i)  # fmt: skip
    for (hist, n_pred), idx in groups.items():
        for lo in range(0, len(idx), 16):
            chunk = idx[lo : lo + 16]
            known = [replace(systems[i], lig_pos=systems[i].lig_pos[:hist],
                             time_ps=systems[i].time_ps[:hist]) for i in chunk]  # fmt: skip
            for i, pred in zip(chunk, predict(method, known, n_pred, samples=samples,
                                              seed=sc.seed)):  # fmt: skip
                out[i] = pred
    return out  # type: ignore[return-value]


def realism_of(system, pred: np.ndarray, members: Sequence[str]) -> dict:
    """Realism columns (with floors) of a rollout ``pred`` (S, N, 3) of ``system`` from its last
    known snapshot, against the whole reference trajectory; the protein is the backbone."""
    bb = np.asarray(system.backbone, dtype=np.float64)
    cx = R.Complex(system.lig_bonds, bb.reshape(-1, 3), np.repeat(np.arange(bb.shape[0]), 3))
    t = system.snapshot_interval_ps * np.arange(1, pred.shape[0] + 1)
    return R.with_floor(pred, system.lig_pos, cx, t, system.time_ps, members)


@dataclass
class Scored:
    """One method's results on a protocol's systems."""

    label: str
    paired: list  # evaluate.Scored per system (empty without paired metrics)
    realism: list[dict]  # realism columns per system (empty without realism metrics)
    trajectories: list[np.ndarray]  # the scored rollout (S, N, 3) Å per system


def _score_method(
    label, method, systems, protocol: Protocol, sc: Scoring, write_dir=None, bar=None
):
    """Score sample 0 as ``label`` and, for stochastic methods with ``samples`` > 1, the mean of
    the K sampled trajectories as ``label[mean of K]``; returns one :class:`Scored` each."""
    preds = _run_method(method, systems, protocol, sc)
    if bar is not None:
        bar.update(len(systems))
    variants = [(label, lambda p: p[0])]
    if method.stochastic and sc.samples > 1:
        variants.append((f"{label}[mean of {sc.samples}]", lambda p: p.mean(axis=0)))
    out = []
    for name, pick in variants:
        result = Scored(name, [], [], [pick(p) for p in preds])
        for s, traj in zip(systems, result.trajectories):
            _, first, stop = protocol.ranges(s.num_frames)
            idx = np.arange(first, stop)
            if sc.paired:
                result.paired.append(score(s.name, traj[: idx.size], s.lig_pos[idx], idx,
                                           s.time_ps[idx], sc.paired, s.lig_bonds,
                                           s.backbone.reshape(-1, 3), sc.stability_threshold))  # fmt: skip
            if sc.realism:
                result.realism.append(realism_of(s, traj[: sc.snapshots], sc.realism))
            if write_dir is not None:
                times = s.time_ps[first - 1] + s.snapshot_interval_ps * np.arange(1, len(traj) + 1)
                write_system_trajectory(Path(write_dir) / safe_name(name) / f"{safe_name(s.name)}.xtc",
                                        s, traj, times)  # fmt: skip
        out.append(result)
    return out


def _unique_label(name: str, seen: dict[str, int]) -> str:
    """``name``, then ``name-2``, ``name-3`` ... for later methods of the same name."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}-{seen[name]}"


def _summary(result: Scored, extra: dict) -> dict:
    """One row: paired micro averages and realism columns combined over the systems."""
    if result.paired:
        row = summarize_method(result.label, result.paired, extra)
    else:
        row = {"method": result.label, **extra, "trajectories": len(result.trajectories),
               "snapshots": int(sum(len(t) for t in result.trajectories))}  # fmt: skip
    return row | (R.combine(result.realism) if result.realism else {})


def _plot(path: Path, systems, results: list[Scored]) -> None:
    """Realism panels per system: ``path`` for one system, ``stem_<name>.png`` for several."""
    from neuralmd_core.evaluation.realism_plot import plot_realism

    for k, s in enumerate(systems):
        target = (
            path
            if len(systems) == 1
            else path.with_name(f"{path.stem}_{safe_name(s.name)}{path.suffix}")
        )
        preds = {r.label: r.trajectories[k] for r in results}
        plot_realism(target, s.lig_pos, preds, s.lig_bonds, title=s.name)


def _rollouts(loaded, split: str, n_references: int) -> int:
    """Trajectories rolled out in all: each checkpoint's split, and the references once per
    protocol (the progress bar's total)."""
    seen: set[Protocol] = set()
    total = 0
    for ckpt, _, meta in loaded:
        protocol = protocol_from_meta(meta, split, ckpt)
        total += len(protocol.names) * (1 + (0 if protocol in seen else n_references))
        seen.add(protocol)
    return total


def evaluate_dataset_report(
    ckpts: Sequence[str | Path],
    data_path: str | Path,
    split: str = "test",
    metrics: Sequence[str] = M.DEFAULT_METRICS,
    stability_threshold: float = M.STABILITY_THRESHOLD_A,
    write_predictions: str | Path | None = None,
    references: Sequence[str] = ("static", "mean-pose"),
    seed: int = 0,
    samples: int = 1,
    snapshots: int = REALISM_SNAPSHOTS,
    plot: str | Path | None = None,
) -> EvaluationReport:
    """Score checkpoints (and the reference predictors) on a prepared dataset's split.

    Protocol (from each checkpoint's stored task and splits): single task — history = the
    snapshots before the split's frame range (0..79 for the test range 80..99), predict that
    range; multi task — history = snapshot 0, predict 1..T−1 of each trajectory of the split.
    Realism metrics roll out ``snapshots`` snapshots from the last known snapshot (79 in the
    single task, 0 in the multi task) and compare them with the whole reference trajectory; the
    paired metrics are then scored on the first snapshots of that same rollout.
    ``references`` (no training needed) are scored on the same snapshots, once per protocol.

    Args:
        ckpts: checkpoint paths (``dynamics.checkpoint.load_method``).
        data_path: prepared dataset (``neuralmd prepare``).
        split: ``train``, ``val`` or ``test``.
        metrics: metric names, paired and realism (``realism.split_metrics``).
        stability_threshold: Å.
        write_predictions: folder; writes ``<folder>/<method>/<trajectory>.xtc`` (+ ``.pdb``)
            for every scored prediction and ``<folder>/reference/<trajectory>.xtc`` (+ ``.pdb``),
            the whole ground-truth trajectory, so ``evaluate PRED --ref REF`` reproduces the row.
        references: reference predictors scored beside the models.
        seed: seed of stochastic methods.
        samples: K trajectories per stochastic method; sample 0 is scored as the method and the
            mean of the K trajectories as ``METHOD[mean of K]``.
        snapshots: realism rollout length (snapshots of the model's interval).
        plot: PNG of the realism panels (first trajectory; ``stem_<trajectory>.png`` per
            trajectory when the split has several).

    Returns:
        An :class:`EvaluationReport`; rows carry ``method``, ``model`` (checkpoint or
        ``reference``), ``task``, ``split`` and the metric columns.
    """
    from neuralmd_core.data.store import open_dataset
    from neuralmd_core.dynamics.checkpoint import load_method
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.progress import progress

    paired, real = R.split_metrics(metrics)
    if snapshots < 1:
        raise InputError("--snapshots", f"must be at least 1 (got {snapshots})")
    check_plot(plot, real)
    sc = Scoring(paired, real, stability_threshold, int(snapshots), seed, samples)
    report = EvaluationReport(meta={"mode": "dataset", "data": str(data_path), "split": split,
                                    "protocols": [], **common_meta(paired, real, stability_threshold)})  # fmt: skip
    if real:
        report.meta["realism"]["snapshots"] = int(snapshots)
    if write_predictions is not None and not Path(write_predictions).parent.is_dir():
        raise InputError(write_predictions, "parent folder does not exist")
    loaded = [(str(c), *load_method(c, map_location="cpu")) for c in ckpts]
    done: set[Protocol] = set()
    labels: dict[str, int] = {}
    plotted = False
    total = _rollouts(loaded, split, len(references))
    with (
        open_dataset(data_path) as ds,
        progress(total=total, desc="evaluate", unit="rollout") as bar,
    ):
        for ckpt, method, meta in loaded:
            protocol = protocol_from_meta(meta, split, ckpt)
            missing = [n for n in protocol.names if n not in set(ds.names())]
            if missing:
                raise InputError(
                    data_path, f"has no trajectory {missing[0]!r} from {ckpt}'s {split} split"
                )
            systems = [ds.load(n) for n in protocol.names]
            todo = [(str(meta.get("method", method.name)), method, ckpt)]
            if protocol not in done:
                done.add(protocol)
                report.meta["protocols"].append(protocol.describe())
                todo += [(r, build_method(r), "reference") for r in references]
                if write_predictions is not None:
                    for s in systems:
                        write_system_trajectory(Path(write_predictions) / "reference" /
                                                f"{safe_name(s.name)}.xtc", s, s.lig_pos, s.time_ps)  # fmt: skip
            results = []
            for name, m, source in todo:
                label = _unique_label(name, labels)
                extra = {"model": source, "task": protocol.task, "split": split}
                for result in _score_method(
                    label, m, systems, protocol, sc, write_predictions, bar
                ):
                    report.rows.append(_summary(result, extra))
                    report.per_snapshot += snapshot_rows(result.label, result.paired)
                    results.append(result)
            if plot is not None and not plotted:
                _plot(Path(plot), systems, results)
                plotted = True
    return report


def evaluate_dataset(
    ckpts: Sequence[str | Path],
    data_path: str | Path,
    split: str = "test",
    metrics: Sequence[str] = M.DEFAULT_METRICS,
    **kwargs: Any,
) -> list[dict]:
    """Summary rows of :func:`evaluate_dataset_report` (one per model and reference predictor)."""
    return evaluate_dataset_report(ckpts, data_path, split, metrics, **kwargs).rows
