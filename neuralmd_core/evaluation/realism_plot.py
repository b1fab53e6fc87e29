"""The realism figure of ``evaluate --plot``: RMSF per atom, MSD against lag, distance histograms."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neuralmd_core.evaluation import realism as R
from neuralmd_core.evaluation._files import check_plot_output, save_figure


def _msd_curve(pos: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    lags = np.arange(1, max(2, max_lag + 1))
    vals = np.array([np.nan if (v := R.msd(pos, int(k))) is None else v for k in lags])
    return lags, vals


def worst_pairs(pred: np.ndarray, ref: np.ndarray, bonds, count: int = 4) -> list[tuple]:
    """The ``count`` non-bonded pairs with the largest distance JSD: ``[(i, j, jsd), ...]``."""
    pairs = R.nonbonded_pairs(ref.shape[1], bonds)
    scored = []
    for i, j in pairs:
        dp = np.linalg.norm(pred[:, i] - pred[:, j], axis=-1)
        dr = np.linalg.norm(ref[:, i] - ref[:, j], axis=-1)
        scored.append((int(i), int(j), R.jsd(dp, dr)))
    return sorted(scored, key=lambda t: -np.nan_to_num(t[2], nan=-1.0))[:count]


def check_plot_path(path: str | Path) -> Path:
    """``path`` if it can take the figure: a ``.png .pdf .svg .jpg`` name in an existing folder
    (else InputError). Overwriting is the caller's decision (the CLI's ``--force``)."""
    return check_plot_output(path, force=True)


def plot_realism(
    path: str | Path,
    ref: np.ndarray,
    preds: Mapping[str, np.ndarray],
    bonds,
    title: str | None = None,
) -> Path:
    """Draw the three realism panels into a figure file (written atomically).

    Args:
        path: output ``.png``, ``.pdf``, ``.svg`` or ``.jpg`` (the extension picks the format).
        ref: (T_r, N, 3) reference ligand positions, Å.
        preds: label → (T_p, N, 3) predicted positions, Å; the first is the histograms' subject.
        bonds: (B, 2) ligand bonds (pairs excluded from the histograms).
        title: figure title.

    Raises:
        InputError: an unknown figure extension, or the folder does not exist.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_plot_path(path)
    ref = np.asarray(ref, dtype=np.float64)
    h = ref.shape[0] // 2
    fig = plt.figure(figsize=(12, 8), constrained_layout=True)
    grid = fig.add_gridspec(2, 4)
    ax_rmsf, ax_msd = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2:])
    atoms = np.arange(ref.shape[1])
    curves = [("reference", ref, "k-"), ("floor: reference 1st half", ref[:h], "k:")]
    curves += [(label, np.asarray(p, dtype=np.float64), "-") for label, p in preds.items()]
    for label, pos, style in curves:
        ax_rmsf.plot(atoms, R.rmsf_per_atom(pos), style, marker="o", ms=3, label=label)
        lags, vals = _msd_curve(pos, pos.shape[0] // 2)
        ax_msd.loglog(lags, vals, style, label=label)
    ax_rmsf.set(xlabel="ligand heavy atom", ylabel="RMSF (Å)", title="RMSF per atom")
    ax_msd.set(xlabel="lag (snapshots)", ylabel="MSD (Å²)", title="mean-squared displacement")
    ax_rmsf.legend(fontsize=8)
    if preds:
        label, first = next(iter(preds.items()))
        first = np.asarray(first, dtype=np.float64)
        for k, (i, j, value) in enumerate(worst_pairs(first, ref, bonds)):
            ax = fig.add_subplot(grid[1, k])
            dp = np.linalg.norm(first[:, i] - first[:, j], axis=-1)
            dr = np.linalg.norm(ref[:, i] - ref[:, j], axis=-1)
            both = np.concatenate([dp[np.isfinite(dp)], dr])
            edges = np.linspace(both.min(), max(both.max(), both.min() + 1e-6), R.JSD_BINS + 1)
            ax.hist(dr, bins=edges, density=True, histtype="step", color="k", label="reference")
            ax.hist(dp[np.isfinite(dp)], bins=edges, density=True, histtype="step", label=label)
            ax.set(xlabel=f"d({i},{j}) (Å)", ylabel="density", title=f"JSD {value:.3f}")
            if k == 0:
                ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    try:
        return save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)
