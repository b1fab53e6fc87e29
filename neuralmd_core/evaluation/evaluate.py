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
from neuralmd_core.evaluation import realism as R
from neuralmd_core.evaluation._files import write_csv
from neuralmd_core.evaluation._pairing import pair_frames
from neuralmd_core.io.writers import (
    LigandTrajectory,
    has_times,
    read_ligand_trajectory,
    resolve_topologies,
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


def check_interval(pred: LigandTrajectory, ref: LigandTrajectory, pred_path) -> None:
    """Raise when both trajectories carry times and their snapshot intervals differ."""
    if pred.time_ps.size > 1 and ref.time_ps.size > 1:
        dp, dr = np.median(np.diff(pred.time_ps)), np.median(np.diff(ref.time_ps))
        if not np.isclose(dp, dr, rtol=1e-3, atol=1e-6):
            raise InputError(pred_path, f"snapshot interval {dp:g} ps differs from the "
                             f"reference's {dr:g} ps")  # fmt: skip


@dataclass
class _Inputs:
    """What :func:`evaluate_files` reads once and shares between predictions."""

    ref: str | Path
    top: str | Path
    ref_lt: LigandTrajectory
    ligand_resname: str | None
    paired: tuple[str, ...]
    real: tuple[str, ...]
    stability_threshold: float
    start: int | None


def _evaluate_one(pred, pred_top, label, inp: _Inputs) -> tuple[dict, list[dict], dict, Any]:
    """Score one prediction: ``(row, per-snapshot rows, meta entries, its LigandTrajectory)``."""
    ref_lt = inp.ref_lt
    pred_top = (resolve_topologies([pred], pred_top, fallback=False) if pred_top is not None
                else resolve_topologies([pred], inp.top))[0]  # fmt: skip
    pred_lt = read_ligand_trajectory(pred, pred_top, inp.ligand_resname)
    _check_same_ligand(pred_lt, ref_lt, pred)
    times_known = has_times(pred) and has_times(inp.ref)
    if times_known:
        check_interval(pred_lt, ref_lt, pred)
    method = label or str(pred)
    row: dict[str, Any] = {"method": method, "trajectories": 1,
                           "snapshots": int(pred_lt.lig_pos_A.shape[0])}  # fmt: skip
    per_snapshot: list[dict] = []
    meta: dict[str, Any] = {"pred": str(pred), "pred_top": str(pred_top)}
    if inp.paired:
        pairing = pair_frames(pred_lt.time_ps, ref_lt.time_ps, times_known, inp.start, pred)
        log.warning("%s: %s", pred, pairing.describe())
        idx = pairing.ref
        scored = score(str(pred), pred_lt.lig_pos_A[pairing.pred], ref_lt.lig_pos_A[idx], idx,
                       ref_lt.time_ps[idx], inp.paired, ref_lt.bonds,
                       pred_lt.protein_heavy_xyz_A, inp.stability_threshold)  # fmt: skip
        row = summarize_method(method, [scored])
        per_snapshot = snapshot_rows(method, [scored])
        meta["ref_frames"] = [int(idx[0]), int(idx[-1])]
        meta["pairing"] = pairing.as_meta()
    if inp.real:
        cx = R.Complex(ref_lt.bonds, pred_lt.protein_heavy_xyz_A, pred_lt.protein_heavy_res)
        t = pred_lt.time_ps - pred_lt.time_ps[0]
        row |= R.with_floor(pred_lt.lig_pos_A, ref_lt.lig_pos_A, cx, t, ref_lt.time_ps, inp.real)
        meta["realism_frames"] = {"pred": int(pred_lt.lig_pos_A.shape[0]),
                                  "ref": int(ref_lt.lig_pos_A.shape[0])}  # fmt: skip
    return row, per_snapshot, meta, pred_lt


def evaluate_files(
    pred: str | Path | Sequence[str | Path],
    ref: str | Path,
    top: str | Path,
    pred_top: str | Path | None = None,
    ligand_resname: str | None = None,
    metrics: Sequence[str] = M.DEFAULT_METRICS,
    stability_threshold: float = M.STABILITY_THRESHOLD_A,
    start: int | None = None,
    label: str | None = None,
    plot: str | Path | None = None,
) -> EvaluationReport:
    """Score predicted trajectory files against a reference trajectory file.

    Paired metrics (``metrics.METRICS``): predicted frame k is compared with one reference
    frame (:mod:`neuralmd_core.evaluation._pairing`): by time when both files carry frame times
    (the reference frame at the prediction's first time), else by the tail rule (the
    prediction covers the reference's last frames: 20 predicted snapshots against a 100-frame
    reference → frames 80..99); ``start`` sets the reference frame of predicted frame 0. The
    pairing is logged (one warning line per prediction) and kept in ``meta["pairing"]``.
    Realism metrics (``realism.REALISM``, or the group ``realism``) compare the whole PRED with
    the whole REF without pairing frames, beside the replica floor (REF's first half against
    its second half).

    Args:
        pred: predicted trajectory (any mdtraj format), or several (one row each, a progress
            bar on stderr).
        ref: reference (ground-truth) trajectory.
        top: topology of ``ref``, and of each prediction it can describe (same atom count);
            a prediction it cannot describe is read with the topology PDB ``neuralmd`` writes
            next to it (``traj.pdb`` for ``traj.xtc``), with a warning.
        pred_top: topology of the predictions, used as named.
        ligand_resname: the ligand residue name (default: the single non-protein residue).
        metrics: metric names, paired and realism (see :func:`realism.split_metrics`).
        stability_threshold: Stability tolerance, Å.
        start: reference frame of predicted frame 0 (paired metrics).
        label: the ``method`` column (default: the prediction's file name; one prediction).
        plot: figure of the realism panels (``.png .pdf .svg .jpg``; needs a realism metric).

    Returns:
        An :class:`EvaluationReport`. ``meta`` keys ``pred``, ``pred_top``, ``ref_frames``,
        ``pairing`` and ``realism_frames`` hold one prediction's values, or a list of them
        (in order) for several predictions.

    Raises:
        InputError: missing/unreadable files, different ligands, frames that do not fit,
            different snapshot intervals.
    """
    from neuralmd_core.progress import progress

    preds = [pred] if isinstance(pred, (str, Path)) else list(pred)
    if not preds:
        raise InputError("PRED", "no predicted trajectory given")
    paired, real = R.split_metrics(metrics)
    check_plot(plot, real)
    ref_lt = read_ligand_trajectory(ref, top, ligand_resname)
    inp = _Inputs(ref, top, ref_lt, ligand_resname, paired, real, stability_threshold, start)
    report = EvaluationReport(meta={"mode": "files", "ref": str(ref), "top": str(top)})
    report.meta |= {"ligand_heavy_atoms": int(ref_lt.lig_z.size),
                    "ligand_formula": _formula(ref_lt.lig_z)}  # fmt: skip
    metas, drawn = [], {}
    for p in progress(preds, desc="evaluate", unit="trajectory"):
        row, per_snapshot, meta, pred_lt = _evaluate_one(p, pred_top, label, inp)
        report.rows.append(row)
        report.per_snapshot += per_snapshot
        metas.append(meta)
        drawn[row["method"]] = pred_lt.lig_pos_A
    for key in dict.fromkeys(k for m in metas for k in m):
        values = [m.get(key) for m in metas]
        report.meta[key] = values[0] if len(values) == 1 else values
    if real and plot is not None:
        from neuralmd_core.evaluation.realism_plot import plot_realism

        title = Path(str(preds[0])).name if len(preds) == 1 else None
        plot_realism(plot, ref_lt.lig_pos_A, drawn, ref_lt.bonds, title=title)
    report.meta |= common_meta(paired, real, stability_threshold)
    return report


def check_plot(plot: str | Path | None, real: Sequence[str]) -> None:
    """Refuse a ``--plot`` that cannot be drawn before anything is computed."""
    if plot is None:
        return
    if not real:
        raise InputError("--plot", "draws the realism panels: add a realism metric")
    from neuralmd_core.evaluation.realism_plot import check_plot_path

    check_plot_path(plot)


def common_meta(paired: Sequence[str], real: Sequence[str], stability_threshold: float) -> dict:
    """The metadata every report carries: metrics, columns, constants, units, version."""
    columns = [c for m in paired for c in M.METRICS[m].columns]
    columns += [f"{p}{c}" for m in real for c in R.REALISM[m] for p in ("", "floor_")]
    return {
        "metrics": [*paired, *real],
        "columns": columns,
        "averaging": "micro",
        "stability_threshold_A": float(stability_threshold),
        "bond_broken_tol_A": M.BOND_BROKEN_TOL_A,
        "clash_distance_A": M.CLASH_DISTANCE_A,
        **({"realism": {"msd_lags_snapshots": list(R.LAGS), "collapse_tol_A": R.COLLAPSE_TOL_A,
                        "contact_cutoff_A": R.CONTACT_CUTOFF_A, "jsd_bins": R.JSD_BINS,
                        "floor": "reference first half against its second half"}} if real else {}),
        "units": dict(keys.UNITS),
        "neuralmd_version": __version__,
    }  # fmt: skip


__all__ = ["EvaluationReport", "evaluate_files", "write_csv"]
