"""Library entry points of ``neuralmd evaluate``: trajectory files, or checkpoints on a dataset.

Both modes produce an :class:`EvaluationReport`: one summary row per method (the spec §6 metrics,
micro-averaged over complexes, snapshots and atoms), one row per (method, trajectory, snapshot),
and the metadata that makes the numbers reproducible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralmd_core import __version__, keys
from neuralmd_core.errors import InputError
from neuralmd_core.evaluation import metrics as M
from neuralmd_core.evaluation._files import safe_name, write_csv, write_system_trajectory
from neuralmd_core.io.writers import (
    LigandTrajectory,
    has_times,
    read_ligand_trajectory,
    topology_path_for,
)

log = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    """What ``evaluate`` reports.

    Attributes:
        rows: one summary dict per method: ``method``, ``trajectories``, ``snapshots`` and the
            metric columns (``mae_A``, ``rmse_A``, ``matching_A``, ``stability_pct``, ``rmsd_A``,
            ``bond_dev_A``, ``bond_broken_pct``, ``clash_pct``).
        per_snapshot: one dict per (method, trajectory, snapshot) with ``snapshot`` (0-based
            index in the reference trajectory), ``time_ps`` and the same metric columns.
        meta: mode, inputs, protocol, averaging, threshold, units, version.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    per_snapshot: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scored:
    """Per-snapshot metrics of one predicted trajectory against its reference."""

    trajectory: str
    values: dict[str, np.ndarray]  # column -> (S,)
    snapshots: np.ndarray  # (S,) reference snapshot indices
    time_ps: np.ndarray  # (S,)
    num_atoms: int
    num_bonds: int


def score(
    trajectory: str,
    pred: np.ndarray,
    ref: np.ndarray,
    snapshots: np.ndarray,
    time_ps: np.ndarray,
    metrics: Sequence[str],
    bonds: np.ndarray,
    protein_xyz: np.ndarray,
    stability_threshold: float,
) -> Scored:
    """Score one trajectory: ``pred``/``ref`` (S, N, 3) Å on reference snapshots ``snapshots``."""
    values = M.snapshot_metrics(pred, ref, metrics, bonds, protein_xyz, stability_threshold)
    return Scored(trajectory, values, np.asarray(snapshots), np.asarray(time_ps, float),
                  int(ref.shape[1]), int(np.asarray(bonds).reshape(-1, 2).shape[0]))  # fmt: skip


def summarize_method(method: str, scored: Sequence[Scored], extra: dict | None = None) -> dict:
    """One summary row (micro averages, spec §6) for a method scored on several trajectories."""
    summary = M.summarize(
        [s.values for s in scored], [s.num_atoms for s in scored], [s.num_bonds for s in scored]
    )
    row = {"method": method, **(extra or {})}
    row["trajectories"] = len(scored)
    row["snapshots"] = int(sum(s.snapshots.size for s in scored))
    return {**row, **summary}


def snapshot_rows(method: str, scored: Sequence[Scored]) -> list[dict]:
    """Long-format per-snapshot rows for a method."""
    rows = []
    for s in scored:
        for k in range(s.snapshots.size):
            row = {"method": method, "trajectory": s.trajectory,
                   "snapshot": int(s.snapshots[k]), "time_ps": float(s.time_ps[k])}  # fmt: skip
            rows.append(row | {c: float(v[k]) for c, v in s.values.items()})
    return rows


def _formula(z: np.ndarray) -> str:
    from collections import Counter

    import mdtraj as md

    counts = Counter(md.element.Element.getByAtomicNumber(int(v)).symbol for v in z)
    return "".join(f"{el}{n if n > 1 else ''}" for el, n in sorted(counts.items()))


def _check_same_ligand(pred: LigandTrajectory, ref: LigandTrajectory, pred_path) -> None:
    if pred.lig_z.shape != ref.lig_z.shape or not np.array_equal(pred.lig_z, ref.lig_z):
        raise InputError(
            pred_path,
            f"predicted ligand ({pred.lig_z.size} heavy atoms, {_formula(pred.lig_z)}) differs "
            f"from the reference ligand ({ref.lig_z.size} heavy atoms, {_formula(ref.lig_z)}) "
            "in count or element order",
        )


def frame_offset(pred: LigandTrajectory, ref: LigandTrajectory, start: int | None, pred_path,
                 times_known: bool) -> int:  # fmt: skip
    """Reference frame matched with predicted frame 0 (default: the prediction covers the tail).

    Raises:
        InputError: the prediction does not fit in the reference, or (when both files store
            times) the two snapshot intervals differ.
    """
    s, t = pred.lig_pos_A.shape[0], ref.lig_pos_A.shape[0]
    offset = t - s if start is None else int(start)
    if offset < 0 or offset + s > t:
        raise InputError(pred_path, f"{s} predicted frames from reference frame {offset} do not "
                         f"fit in the {t}-frame reference (see --start)")  # fmt: skip
    if times_known and s > 1 and t > 1:
        dp, dr = np.median(np.diff(pred.time_ps)), np.median(np.diff(ref.time_ps))
        if not np.isclose(dp, dr, rtol=1e-3, atol=1e-6):
            raise InputError(pred_path, f"snapshot interval {dp:g} ps differs from the "
                             f"reference's {dr:g} ps")  # fmt: skip
        if not np.allclose(pred.time_ps, ref.time_ps[offset : offset + s], atol=1e-3):
            log.warning("%s: frame times (%g ps ...) differ from the reference frames %d.. "
                        "(%g ps ...); frames are matched by index", pred_path,
                        pred.time_ps[0], offset, ref.time_ps[offset])  # fmt: skip
    return offset


def evaluate_files(
    pred: str | Path,
    ref: str | Path,
    top: str | Path,
    pred_top: str | Path | None = None,
    ligand_resname: str | None = None,
    metrics: Sequence[str] = M.DEFAULT_METRICS,
    stability_threshold: float = M.STABILITY_THRESHOLD_A,
    start: int | None = None,
    label: str | None = None,
) -> EvaluationReport:
    """Score a predicted trajectory file against a reference trajectory file.

    Predicted frame k is compared with reference frame ``k + offset``; by default
    ``offset = ref_frames - pred_frames`` (the prediction covers the reference's tail, e.g. 20
    predicted snapshots against a 100-frame reference → frames 80..99), else ``offset = start``.

    Args:
        pred: predicted trajectory (any mdtraj format).
        ref: reference (ground-truth) trajectory.
        top: topology of ``ref`` (and of ``pred`` unless ``pred_top`` is given).
        pred_top: topology of ``pred``; default: the topology PDB ``neuralmd`` writes next to a
            trajectory (``traj.pdb`` for ``traj.xtc``) if it exists, else ``top``.
        ligand_resname: the ligand residue name (default: the single non-protein residue).
        metrics: metric names, see ``metrics.METRICS``.
        stability_threshold: Stability tolerance, Å.
        start: reference frame of predicted frame 0.
        label: the ``method`` column (default: the prediction's file name).

    Raises:
        InputError: missing/unreadable files, different ligands, frames that do not fit.
    """
    ref_lt = read_ligand_trajectory(ref, top, ligand_resname)
    if pred_top is None:
        neighbour = topology_path_for(pred)
        pred_top = neighbour if neighbour.is_file() and Path(pred) != neighbour else top
    pred_lt = read_ligand_trajectory(pred, pred_top, ligand_resname)
    _check_same_ligand(pred_lt, ref_lt, pred)
    offset = frame_offset(pred_lt, ref_lt, start, pred, has_times(pred) and has_times(ref))
    s = pred_lt.lig_pos_A.shape[0]
    idx = np.arange(offset, offset + s)
    scored = score(str(pred), pred_lt.lig_pos_A, ref_lt.lig_pos_A[idx], idx,
                   ref_lt.time_ps[idx], metrics, ref_lt.bonds, pred_lt.protein_heavy_xyz_A,
                   stability_threshold)  # fmt: skip
    method = label or str(pred)
    meta = {
        "mode": "files",
        "pred": str(pred),
        "ref": str(ref),
        "top": str(top),
        "pred_top": str(pred_top),
        "ligand_heavy_atoms": int(ref_lt.lig_z.size),
        "ligand_formula": _formula(ref_lt.lig_z),
        "ref_frames": [int(offset), int(offset + s - 1)],
        **_common_meta(metrics, stability_threshold),
    }
    return EvaluationReport(
        [summarize_method(method, [scored])], snapshot_rows(method, [scored]), meta
    )


def _common_meta(metrics: Sequence[str], stability_threshold: float) -> dict:
    return {
        "metrics": list(metrics),
        "columns": [c for m in metrics for c in M.METRICS[m].columns],
        "averaging": "micro",
        "stability_threshold_A": float(stability_threshold),
        "bond_broken_tol_A": M.BOND_BROKEN_TOL_A,
        "clash_distance_A": M.CLASH_DISTANCE_A,
        "units": dict(keys.UNITS),
        "neuralmd_version": __version__,
    }


# --- dataset mode -------------------------------------------------------------------------


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


def _run_method(
    method, systems: list, protocol: Protocol, seed: int, samples: int = 1
) -> list[np.ndarray]:
    """Predictions (K, S_i, N_i, 3) Å for each system under ``protocol`` (batched by shape)."""
    from dataclasses import replace

    from neuralmd_core.rollout import predict

    out: list[np.ndarray | None] = [None] * len(systems)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(systems):
        hist, first, stop = protocol.ranges(s.num_frames)
        groups.setdefault((hist, stop - first), []).append(i)
    for (hist, n_pred), idx in groups.items():
        for lo in range(0, len(idx), 16):
            chunk = idx[lo : lo + 16]
            known = [replace(systems[i], lig_pos=systems[i].lig_pos[:hist],
                             time_ps=systems[i].time_ps[:hist]) for i in chunk]  # fmt: skip
            for i, pred in zip(chunk, predict(method, known, n_pred, samples=samples, seed=seed)):
                out[i] = pred
    return out  # type: ignore[return-value]


def _write_references(folder: Path, systems: Sequence) -> None:
    for s in systems:
        path = folder / "reference" / f"{safe_name(s.name)}.xtc"
        write_system_trajectory(path, s, s.lig_pos, s.time_ps)


def _score_method(label, method, systems, protocol, metrics, threshold, seed, write_dir, samples=1):
    """Score sample 0 as ``label`` and, for stochastic methods with ``samples`` > 1, the mean of
    the K sampled trajectories as ``label[mean of K]``. Returns ``[(label, scored), ...]``."""
    preds = _run_method(method, systems, protocol, seed, samples if method.stochastic else 1)
    variants = [(label, lambda p: p[0])]
    if method.stochastic and samples > 1:
        variants.append((f"{label}[mean of {samples}]", lambda p: p.mean(axis=0)))
    out = []
    for name, pick in variants:
        scored = []
        for s, pred in zip(systems, preds):
            _, first, stop = protocol.ranges(s.num_frames)
            idx = np.arange(first, stop)
            scored.append(score(s.name, pick(pred), s.lig_pos[idx], idx, s.time_ps[idx], metrics,
                                s.lig_bonds, s.backbone.reshape(-1, 3), threshold))  # fmt: skip
            if write_dir is not None:
                write_system_trajectory(Path(write_dir) / safe_name(name) / f"{safe_name(s.name)}.xtc",
                                        s, pick(pred), s.time_ps[idx])  # fmt: skip
        out.append((name, scored))
    return out


def _unique_label(name: str, seen: dict[str, int]) -> str:
    """``name``, then ``name-2``, ``name-3`` ... for later methods of the same name."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}-{seen[name]}"


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
) -> EvaluationReport:
    """Score checkpoints (and the reference predictors) on a prepared dataset's split.

    Protocol (from each checkpoint's stored task and splits): single task — history = the
    snapshots before the split's frame range (0..79 for the test range 80..99), predict that
    range; multi task — history = snapshot 0, predict 1..T−1 of each trajectory of the split.
    ``references`` (no training needed) are scored on the same snapshots, once per protocol.

    Args:
        ckpts: checkpoint paths (``training.checkpoint.load_method``).
        data_path: prepared dataset (``neuralmd prepare``).
        split: ``train``, ``val`` or ``test``.
        metrics: metric names. stability_threshold: Å.
        write_predictions: folder; writes ``<folder>/<method>/<trajectory>.xtc`` (+ ``.pdb``)
            for every scored prediction and ``<folder>/reference/<trajectory>.xtc`` (+ ``.pdb``),
            the whole ground-truth trajectory, so ``evaluate PRED --ref REF`` reproduces the row.
        references: reference predictors scored beside the models.
        seed: seed of stochastic methods.
        samples: K trajectories per stochastic method; sample 0 is scored as the method and the
            mean of the K trajectories as ``METHOD[mean of K]``.

    Returns:
        An :class:`EvaluationReport`; rows carry ``method``, ``model`` (checkpoint or
        ``reference``), ``task``, ``split`` and the metric columns.
    """
    from neuralmd_core.data.store import open_dataset
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.checkpoint import load_method

    report = EvaluationReport(meta={"mode": "dataset", "data": str(data_path), "split": split,
                                    "protocols": [], **_common_meta(metrics, stability_threshold)})  # fmt: skip
    if write_predictions is not None and not Path(write_predictions).parent.is_dir():
        raise InputError(write_predictions, "parent folder does not exist")
    loaded = [(str(c), *load_method(c, map_location="cpu")) for c in ckpts]
    done: set[Protocol] = set()
    labels: dict[str, int] = {}
    with open_dataset(data_path) as ds:
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
                    _write_references(Path(write_predictions), systems)
            for name, m, source in todo:
                label = _unique_label(name, labels)
                extra = {"model": source, "task": protocol.task, "split": split}
                for row_label, scored in _score_method(label, m, systems, protocol, metrics,
                                                       stability_threshold, seed,
                                                       write_predictions, samples):  # fmt: skip
                    report.rows.append(summarize_method(row_label, scored, extra))
                    report.per_snapshot += snapshot_rows(row_label, scored)
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


__all__ = [
    "EvaluationReport",
    "evaluate_files",
    "evaluate_dataset",
    "evaluate_dataset_report",
    "write_csv",
]
