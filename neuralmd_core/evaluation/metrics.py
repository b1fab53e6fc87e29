"""The paper's trajectory metrics (spec §6) plus RMSD and two physical-validity checks.

Every metric takes a predicted and a reference ligand trajectory of ONE complex,
``pred``/``ref`` of shape ``(S, N, 3)`` in Å (numpy or torch), and returns one value per
snapshot, shape ``(S,)`` (numpy float64). :func:`aggregate` then averages those per-snapshot
values over snapshots and complexes, either micro (the paper's, spec §6) or macro.

Each metric carries a *weight* that makes the micro average exactly the spec's:

* ``"atoms"``  — MAE and "RMSE" are sums over (complex, snapshot, atom) divided by the number of
  (atom, snapshot) pairs, so a snapshot of a complex with N_c atoms weighs N_c;
* ``"bonds"``  — the bond-length deviation is a mean over (bond, snapshot) pairs;
* ``"snapshots"`` — Matching, Stability, RMSD, bond-broken and clash flags are unweighted means
  over (complex, snapshot).

See ``docs/metrics.md`` for the formulas and how they differ from the textbook names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: default |ΔD| tolerance of Stability (Å), as in the paper
STABILITY_THRESHOLD_A = 0.5
#: a bond off its reference length by more than this counts as broken (Å)
BOND_BROKEN_TOL_A = 0.3
#: a ligand heavy atom closer than this to a protein heavy atom is a clash (Å)
CLASH_DISTANCE_A = 2.0


def _np(x) -> np.ndarray:
    """Convert a numpy array or torch tensor (any device) to float64 numpy."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(pred, ref) -> tuple[np.ndarray, np.ndarray]:
    p, r = _np(pred), _np(ref)
    if p.shape != r.shape or p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"pred and ref must both be (S, N, 3); got {p.shape} and {r.shape}")
    return p, r


def mae(pred, ref) -> np.ndarray:
    """Per-snapshot mean over atoms of the per-atom L1 norm ``Σ_xyz |x̂ − x|`` (Å), shape (S,)."""
    p, r = _pair(pred, ref)
    return np.abs(p - r).sum(-1).mean(-1)


def rmse(pred, ref) -> np.ndarray:
    """Per-snapshot mean over atoms of the per-atom distance ``‖x̂ − x‖₂`` (Å), shape (S,).

    This is the paper's "RMSE": no square, no root across atoms (see :func:`rmsd`).
    """
    p, r = _pair(pred, ref)
    return np.linalg.norm(p - r, axis=-1).mean(-1)


def rmsd(pred, ref) -> np.ndarray:
    """Per-snapshot textbook RMSD ``sqrt(mean_i ‖x̂_i − x_i‖²)`` (Å), no superposition, (S,)."""
    p, r = _pair(pred, ref)
    return np.sqrt(((p - r) ** 2).sum(-1).mean(-1))


def distance_matrices(pos) -> np.ndarray:
    """Intra-ligand distance matrices ``(S, N, N)`` (Å) of positions ``(S, N, 3)``."""
    x = _np(pos)
    return np.linalg.norm(x[..., :, None, :] - x[..., None, :, :], axis=-1)


def matching(pred, ref) -> np.ndarray:
    """Per-snapshot ``sqrt((1/N²) Σ_ij (D^true_ij − D^pred_ij)²)`` (Å), diagonal included, (S,)."""
    p, r = _pair(pred, ref)
    diff = distance_matrices(p) - distance_matrices(r)
    return np.sqrt((diff**2).mean(axis=(-1, -2)))


def stability(pred, ref, threshold: float = STABILITY_THRESHOLD_A) -> np.ndarray:
    """Per-snapshot % of ordered pairs (i, j), diagonal included, with |ΔD_ij| ≤ threshold, (S,)."""
    p, r = _pair(pred, ref)
    diff = np.abs(distance_matrices(p) - distance_matrices(r))
    return 100.0 * (diff <= threshold).mean(axis=(-1, -2))


def bond_lengths(pos, bonds) -> np.ndarray:
    """Bond lengths ``(S, B)`` (Å) of positions ``(S, N, 3)`` for index pairs ``bonds`` (B, 2)."""
    x = _np(pos)
    b = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    return np.linalg.norm(x[..., b[:, 0], :] - x[..., b[:, 1], :], axis=-1)


def bond_deviation(pred, ref, bonds) -> np.ndarray:
    """Per-snapshot mean over bonds of |ℓ_pred − ℓ_ref| (Å), reference = same snapshot, (S,).

    NaN for a ligand without bonds (it then carries zero weight in :func:`aggregate`).
    """
    p, r = _pair(pred, ref)
    dev = np.abs(bond_lengths(p, bonds) - bond_lengths(r, bonds))
    if dev.shape[-1] == 0:
        return np.full(p.shape[0], np.nan)
    return dev.mean(-1)


def bond_broken(pred, ref, bonds, tol: float = BOND_BROKEN_TOL_A) -> np.ndarray:
    """Per-snapshot 100 if any bond length is off its reference by more than ``tol`` Å, else 0."""
    p, r = _pair(pred, ref)
    dev = np.abs(bond_lengths(p, bonds) - bond_lengths(r, bonds))
    return 100.0 * (dev > tol).any(-1)


def clashes(pred, protein_xyz, cutoff: float = CLASH_DISTANCE_A) -> np.ndarray:
    """Per-snapshot 100 if a ligand heavy atom is closer than ``cutoff`` Å to any protein atom.

    Args:
        pred: (S, N, 3) ligand positions, Å.
        protein_xyz: (P, 3) rigid protein heavy-atom positions, Å (same frame as ``pred``).
        cutoff: clash distance, Å.
    """
    x = _np(pred)
    prot = _np(protein_xyz).reshape(-1, 3)
    if prot.shape[0] == 0:
        return np.zeros(x.shape[0])
    flags = np.empty(x.shape[0])
    for s in range(x.shape[0]):  # (N, P) per snapshot keeps memory small for big proteins
        d2 = ((x[s, :, None, :] - prot[None, :, :]) ** 2).sum(-1)
        flags[s] = 100.0 * bool((d2 < cutoff**2).any())
    return flags


@dataclass(frozen=True)
class MetricSpec:
    """How one metric name maps to output columns and their averaging weights."""

    name: str
    columns: tuple[str, ...]
    weights: tuple[str, ...]  # per column: "atoms" | "bonds" | "snapshots"


#: metric name → columns, in the order results are reported
METRICS: dict[str, MetricSpec] = {
    "mae": MetricSpec("mae", ("mae_A",), ("atoms",)),
    "rmse": MetricSpec("rmse", ("rmse_A",), ("atoms",)),
    "matching": MetricSpec("matching", ("matching_A",), ("snapshots",)),
    "stability": MetricSpec("stability", ("stability_pct",), ("snapshots",)),
    "rmsd": MetricSpec("rmsd", ("rmsd_A",), ("snapshots",)),
    "bonds": MetricSpec("bonds", ("bond_dev_A", "bond_broken_pct"), ("bonds", "snapshots")),
    "clashes": MetricSpec("clashes", ("clash_pct",), ("snapshots",)),
}
DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


def parse_metrics(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"mae,rmse"`` (or a list) → validated metric names; ``ValueError`` names an unknown one."""
    if text is None:
        return DEFAULT_METRICS
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"unknown metric {unknown[0] if unknown else '(none)'!r}; "
            f"choose from {','.join(METRICS)}"
        )
    return tuple(dict.fromkeys(names))


def snapshot_metrics(
    pred,
    ref,
    metrics: Sequence[str] = DEFAULT_METRICS,
    bonds=None,
    protein_xyz=None,
    stability_threshold: float = STABILITY_THRESHOLD_A,
) -> dict[str, np.ndarray]:
    """All requested metrics of one complex, per snapshot: column name → (S,) values.

    Args:
        pred, ref: (S, N, 3) predicted and reference ligand positions, Å.
        metrics: metric names (keys of :data:`METRICS`).
        bonds: (B, 2) ligand bonds, needed by ``bonds``.
        protein_xyz: (P, 3) protein heavy atoms, Å, needed by ``clashes``.
        stability_threshold: Stability tolerance, Å.
    """
    p, r = _pair(pred, ref)
    bonds_arr = np.zeros((0, 2), np.int64) if bonds is None else np.asarray(bonds).reshape(-1, 2)
    out: dict[str, np.ndarray] = {}
    for name in metrics:
        if name == "mae":
            out["mae_A"] = mae(p, r)
        elif name == "rmse":
            out["rmse_A"] = rmse(p, r)
        elif name == "matching":
            out["matching_A"] = matching(p, r)
        elif name == "stability":
            out["stability_pct"] = stability(p, r, stability_threshold)
        elif name == "rmsd":
            out["rmsd_A"] = rmsd(p, r)
        elif name == "bonds":
            out["bond_dev_A"] = bond_deviation(p, r, bonds_arr)
            out["bond_broken_pct"] = bond_broken(p, r, bonds_arr)
        elif name == "clashes":
            prot = np.zeros((0, 3)) if protein_xyz is None else protein_xyz
            out["clash_pct"] = clashes(p, prot)
        else:
            raise ValueError(f"unknown metric {name!r}")
    return out


def column_weight(column: str) -> str:
    """The averaging weight kind (``atoms``/``bonds``/``snapshots``) of an output column."""
    for spec in METRICS.values():
        if column in spec.columns:
            return spec.weights[spec.columns.index(column)]
    raise KeyError(column)


def aggregate(
    values: Sequence[np.ndarray], weights: Sequence[float] | None = None, mode: str = "micro"
) -> float:
    """Average per-snapshot values of several complexes.

    Args:
        values: one (S_c,) array per complex.
        weights: one weight per complex (N_c atoms for MAE/RMSE, B_c bonds for bond deviation);
            ``None`` means 1 (an unweighted mean over (complex, snapshot)).
        mode: ``"micro"`` — Σ_c w_c Σ_t v_ct / Σ_c w_c S_c, every (complex, snapshot[, atom])
            counts once (the paper's); ``"macro"`` — the mean over complexes of each complex's
            mean over snapshots.

    Returns:
        The average; NaN if nothing carries weight.
    """
    vals = [_np(v).reshape(-1) for v in values]
    w = np.ones(len(vals)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = [(v, wc) for v, wc in zip(vals, w) if v.size and wc > 0 and np.isfinite(v).all()]
    if not keep:
        return float("nan")
    if mode == "micro":
        num = sum(wc * v.sum() for v, wc in keep)
        den = sum(wc * v.size for v, wc in keep)
        return float(num / den)
    if mode == "macro":
        return float(np.mean([v.mean() for v, _ in keep]))
    raise ValueError(f"unknown averaging mode {mode!r} (micro or macro)")


def summarize(
    per_complex: Sequence[dict[str, np.ndarray]],
    num_atoms: Sequence[int],
    num_bonds: Sequence[int],
    mode: str = "micro",
) -> dict[str, float]:
    """Aggregate the :func:`snapshot_metrics` of several complexes into one value per column."""
    if not per_complex:
        return {}
    out = {}
    for column in per_complex[0]:
        kind = column_weight(column)
        weights = {"atoms": num_atoms, "bonds": num_bonds, "snapshots": None}[kind]
        out[column] = aggregate([pc[column] for pc in per_complex], weights, mode)
    return out
