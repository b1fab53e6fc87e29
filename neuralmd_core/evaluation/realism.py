"""Realism metrics: is a predicted ligand trajectory MD-like? (``evaluate --metrics realism``)

Unlike :mod:`metrics`, nothing here pairs frames: PRED ``(T_p, N, 3)`` and REF ``(T_r, N, 3)``
(Å, ligand heavy atoms, the fixed protein frame, no superposition) may differ in length. Each
figure compares what MD users analyse — bond lengths, fluctuations, kinetics, distance and
torsion distributions, contacts — and comes with a *replica floor*: the same figure for REF's
first half (as PRED) against its second half (as REF), i.e. what independent MD achieves.
Definitions (exact, in ``docs/metrics.md``):

* ``bond_err_A``: mean over (PRED frame, bond) of |ℓ − ℓ₀|, ℓ₀ = the bond's mean length in REF;
* ``collapse_ps``: time (from the rollout's start) of the first PRED frame whose largest
  |ℓ − ℓ₀| exceeds 0.5 Å (Fu et al.'s stability); ``None`` if none;
* ``rmsf_ratio`` = mean_i RMSF_pred,i / mean_i RMSF_ref,i (each about its own mean position);
  ``rmsf_err`` = mean_i |RMSF_pred,i − RMSF_ref,i| / mean_i RMSF_ref,i;
* ``msd_ratio_lag{k}``: mean over (t, i) of |x_{t+k} − x_t|² in PRED over the same in REF;
* ``jsd_pairs``: mean over non-bonded atom pairs of the base-2 Jensen–Shannon divergence of the
  pair's distance histograms (20 equal bins over the pooled [min, max]);
* ``jsd_centroid``: the same for the centroid's distance from REF's mean centroid;
* ``jsd_torsions``: the same over rotatable torsions, bins over [−π, π];
* ``centroid_max_A``: the largest distance of PRED's centroid from REF's mean centroid;
* ``contact_err``: mean |f_pred − f_ref| over (ligand atom, residue) pairs in contact in either
  trajectory, f = fraction of frames with a residue heavy atom within 4.5 Å;
* ``clash_pct``: % of PRED frames with a ligand heavy atom within 2 Å of a protein heavy atom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuralmd_core.data.ligand_graph import adjacency, rotatable_bonds
from neuralmd_core.evaluation import metrics as M

LAGS: tuple[int, ...] = (1, 2, 5, 10)  #: MSD lags, in snapshots
COLLAPSE_TOL_A = 0.5  #: largest bond deviation before a frame counts as collapsed, Å
CONTACT_CUTOFF_A = 4.5  #: ligand atom – residue heavy atom contact distance, Å
JSD_BINS = 20  #: histogram bins of every JSD

#: member name → output columns (each also reported as ``floor_<column>``)
REALISM: dict[str, tuple[str, ...]] = {
    "bond_err": ("bond_err_A",),
    "collapse": ("collapse_ps",),
    "rmsf": ("rmsf_ratio", "rmsf_err"),
    "msd": tuple(f"msd_ratio_lag{k}" for k in LAGS),
    "jsd_pairs": ("jsd_pairs",),
    "jsd_centroid": ("jsd_centroid",),
    "jsd_torsions": ("jsd_torsions",),
    "centroid_max": ("centroid_max_A",),
    "contact_err": ("contact_err",),
    "clashes": ("clash_pct",),
}
GROUP = "realism"


@dataclass(frozen=True)
class Complex:
    """What the realism metrics need besides the two trajectories.

    Attributes:
        bonds: (B, 2) ligand heavy-atom bonds.
        protein_xyz: (P, 3) rigid protein heavy atoms, Å (contacts and clashes).
        protein_res: (P,) residue index of each protein atom (contacts).
    """

    bonds: np.ndarray
    protein_xyz: np.ndarray
    protein_res: np.ndarray


def split_metrics(text: str | Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"mae,realism"`` → (paired metric names, realism member names).

    ``realism`` expands to every member; a member may also be named by one of its columns
    (``rmsf_ratio``, ``msd_ratio_lag1``, ``bond_err_A``). ``clashes`` is scored over the realism
    rollout whenever a realism member is asked for, else as a paired metric.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    alias = {c.removesuffix("_A"): m for m, cols in REALISM.items() for c in cols}
    alias |= {c: m for m, cols in REALISM.items() for c in cols} | {m: m for m in REALISM}
    expanded: list[str] = []
    for name in filter(None, names):
        if name == GROUP:
            expanded += list(REALISM)
        elif name in M.METRICS:
            expanded.append(name)
        elif name in alias:
            expanded.append(alias[name])
        else:
            raise ValueError(f"unknown metric {name!r}; choose from {','.join(M.METRICS)}, "
                             f"{GROUP} or its members {','.join(REALISM)}")  # fmt: skip
    if not expanded:
        raise ValueError(f"no metric given; choose from {','.join(M.METRICS)},{GROUP}")
    any_realism = any(n in REALISM and n != "clashes" for n in expanded)
    realism = [n for n in expanded if n in REALISM and (n != "clashes" or any_realism)]
    paired = [n for n in expanded if n not in realism]
    return tuple(dict.fromkeys(paired)), tuple(dict.fromkeys(realism))


# --- building blocks ----------------------------------------------------------------------


def rmsf_per_atom(pos) -> np.ndarray:
    """RMSF of each atom about its own mean position, (N,) Å, of positions (T, N, 3)."""
    x = M._np(pos)
    return np.sqrt(((x - x.mean(0)) ** 2).sum(-1).mean(0))


def msd(pos, lag: int) -> float | None:
    """Mean over (t, i) of |x_{t+lag} − x_t|² (Å²); ``None`` when the trajectory is too short."""
    x = M._np(pos)
    if x.shape[0] <= lag:
        return None
    return float(((x[lag:] - x[:-lag]) ** 2).sum(-1).mean())


def jsd(a, b, bins: int = JSD_BINS, value_range: tuple[float, float] | None = None) -> float:
    """Base-2 Jensen–Shannon divergence of the histograms of samples ``a`` and ``b``.

    ``bins`` equal bins over ``value_range`` or, by default, the pooled [min, max] (0 when all
    samples are equal). Non-finite samples are dropped. Range [0, 1].
    """
    a, b = M._np(a).ravel(), M._np(b).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    lo, hi = value_range or (min(a.min(), b.min()), max(a.max(), b.max()))
    if hi <= lo:
        return 0.0
    p = np.histogram(a, bins=bins, range=(lo, hi))[0] / a.size
    q = np.histogram(b, bins=bins, range=(lo, hi))[0] / b.size
    m = 0.5 * (p + q)

    def kl(u: np.ndarray) -> float:
        nz = u > 0
        return float((u[nz] * np.log2(u[nz] / m[nz])).sum())

    return 0.5 * kl(p) + 0.5 * kl(q)


def nonbonded_pairs(n: int, bonds) -> np.ndarray:
    """Atom pairs (i < j) that are not directly bonded, (K, 2)."""
    adj = adjacency(n, bonds)
    return np.array([(i, j) for i in range(n) for j in range(i + 1, n) if j not in adj[i]],
                    dtype=np.int64).reshape(-1, 2)  # fmt: skip


def rotatable_torsions(n: int, bonds) -> np.ndarray:
    """Torsions (i, j, k, l) (K, 4) about the rotatable bonds of the heavy-atom graph.

    A bond j–k (j < k) is rotatable when it is in no ring and both ends have another heavy
    neighbour; i and l are the lowest-index such neighbours of j and k. Bond orders are not used
    (``data.ligand_graph.rotatable_bonds``, which the dynamics use too).
    """
    return np.array(rotatable_bonds(n, bonds), dtype=np.int64).reshape(-1, 4)


def dihedrals(pos, quads) -> np.ndarray:
    """Dihedral angles (T, K) in radians, in [−π, π], of positions (T, N, 3)."""
    x = M._np(pos)
    q = np.asarray(quads, dtype=np.int64).reshape(-1, 4)
    b0 = x[:, q[:, 0]] - x[:, q[:, 1]]
    b1 = x[:, q[:, 2]] - x[:, q[:, 1]]
    b2 = x[:, q[:, 3]] - x[:, q[:, 2]]
    b1n = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - (b0 * b1n).sum(-1, keepdims=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdims=True) * b1n
    return np.arctan2((np.cross(b1n, v) * w).sum(-1), (v * w).sum(-1))


def contact_fractions(
    pos, protein_xyz, protein_res, cutoff: float = CONTACT_CUTOFF_A
) -> np.ndarray:
    """f (N, R): fraction of frames in which ligand atom i is within ``cutoff`` Å of a heavy
    atom of residue r (residues numbered by ``protein_res``; R = its max + 1)."""
    x = M._np(pos)
    prot = M._np(protein_xyz).reshape(-1, 3)
    res = np.asarray(protein_res, dtype=np.int64).reshape(-1)
    num_res = int(res.max()) + 1 if res.size else 0
    counts = np.zeros((x.shape[1], num_res))
    if res.size == 0:
        return counts
    order = np.argsort(res, kind="stable")
    prot, res = prot[order], res[order]
    starts = np.flatnonzero(np.r_[True, res[1:] != res[:-1]])
    for frame in x:
        near = ((frame[:, None, :] - prot[None]) ** 2).sum(-1) < cutoff**2  # (N, P)
        counts[:, res[starts]] += np.logical_or.reduceat(near, starts, axis=1)
    return counts / max(x.shape[0], 1)


# --- the metrics --------------------------------------------------------------------------


def _none(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _mean_jsd(a: np.ndarray, b: np.ndarray, value_range=None) -> float | None:
    """Mean over columns k of ``jsd(a[:, k], b[:, k])`` (samples × columns); ``None`` if none."""
    if a.shape[1] == 0:
        return None
    return _none(
        np.mean([jsd(a[:, k], b[:, k], value_range=value_range) for k in range(a.shape[1])])
    )


def realism_metrics(
    pred, ref, cx: Complex, pred_time_ps, members: Sequence[str] = tuple(REALISM)
) -> dict[str, float | None]:
    """The realism columns of ``members`` for PRED against REF (no frame pairing).

    Args:
        pred: (T_p, N, 3) Å. ref: (T_r, N, 3) Å, same atoms in the same order.
        cx: bonds and protein (:class:`Complex`).
        pred_time_ps: (T_p,) time of each PRED frame since the rollout's start, ps.
        members: names from :data:`REALISM`.
    """
    p, r = M._np(pred), M._np(ref)
    n = r.shape[1]
    out: dict[str, float | None] = {}
    ell0 = M.bond_lengths(r, cx.bonds).mean(0)
    dev = np.abs(M.bond_lengths(p, cx.bonds) - ell0)  # (T_p, B)
    c0 = r.mean(1).mean(0)
    for name in members:
        if name == "bond_err":
            out["bond_err_A"] = _none(dev.mean()) if dev.size else None
        elif name == "collapse":
            bad = np.flatnonzero(~(dev.max(-1, initial=0.0) <= COLLAPSE_TOL_A))
            out["collapse_ps"] = float(np.asarray(pred_time_ps)[bad[0]]) if bad.size else None
        elif name == "rmsf":
            fp, fr = rmsf_per_atom(p), rmsf_per_atom(r)
            out["rmsf_ratio"] = _none(_ratio(fp.mean(), fr.mean()))
            out["rmsf_err"] = _none(_ratio(np.abs(fp - fr).mean(), fr.mean()))
        elif name == "msd":
            for k in LAGS:
                out[f"msd_ratio_lag{k}"] = _none(_ratio(msd(p, k), msd(r, k)))
        elif name == "jsd_pairs":
            pairs = nonbonded_pairs(n, cx.bonds)
            dp, dr = (
                np.linalg.norm(x[:, pairs[:, 0]] - x[:, pairs[:, 1]], axis=-1) for x in (p, r)
            )
            out["jsd_pairs"] = _mean_jsd(dp, dr)
        elif name == "jsd_centroid":
            dist = [np.linalg.norm(x.mean(1) - c0, axis=-1) for x in (p, r)]
            out["jsd_centroid"] = _none(jsd(*dist))
        elif name == "jsd_torsions":
            quads = rotatable_torsions(n, cx.bonds)
            out["jsd_torsions"] = _mean_jsd(
                dihedrals(p, quads), dihedrals(r, quads), (-np.pi, np.pi)
            )
        elif name == "centroid_max":
            out["centroid_max_A"] = _none(np.linalg.norm(p.mean(1) - c0, axis=-1).max())
        elif name == "contact_err":
            fp = contact_fractions(p, cx.protein_xyz, cx.protein_res)
            fr = contact_fractions(r, cx.protein_xyz, cx.protein_res)
            mask = (fp > 0) | (fr > 0)
            out["contact_err"] = float(np.abs(fp - fr)[mask].mean()) if mask.any() else None
        elif name == "clashes":
            out["clash_pct"] = float(M.clashes(p, cx.protein_xyz).mean())
        else:
            raise ValueError(f"unknown realism metric {name!r}")
    return out


def with_floor(
    pred, ref, cx: Complex, pred_time_ps, ref_time_ps, members: Sequence[str] = tuple(REALISM)
) -> dict[str, float | None]:
    """:func:`realism_metrics` with each column followed by ``floor_<column>``: REF's first half
    (``T_r // 2`` frames, as PRED, times from its first frame) against its second half."""
    r = M._np(ref)
    h = r.shape[0] // 2
    values = realism_metrics(pred, r, cx, pred_time_ps, members)
    t = np.asarray(ref_time_ps, dtype=np.float64)
    floor = realism_metrics(r[:h], r[h:], cx, t[:h] - t[0], members) if h >= 2 else {}
    out: dict[str, float | None] = {}
    for column, value in values.items():
        out[column] = value
        out[f"floor_{column}"] = floor.get(column)
    return out


def combine(per_trajectory: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """One value per column over several trajectories: the mean of the known values, except
    ``collapse_ps`` (the earliest) and ``centroid_max_A`` (the largest); ``None`` if none known."""
    out: dict[str, float | None] = {}
    for column in dict.fromkeys(c for d in per_trajectory for c in d):
        known = [d[column] for d in per_trajectory if d.get(column) is not None]
        base = column.removeprefix("floor_")
        pick = {"collapse_ps": min, "centroid_max_A": max}.get(base, lambda v: float(np.mean(v)))
        out[column] = float(pick(known)) if known else None
    return out
