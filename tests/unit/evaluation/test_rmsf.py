"""Sliding-window RMSF: hand cases, window layout, the plot file."""

import math

import numpy as np
import pytest

from neuralmd_core.evaluation.rmsf import (
    curves_table,
    plot_rmsf,
    rmsf_error,
    sliding_rmsf,
    window_rmsf,
    window_starts,
)


def test_frozen_ligand_has_zero_rmsf():
    pose = np.random.default_rng(0).normal(size=(6, 3)) * 4
    curve = sliding_rmsf(np.repeat(pose[None], 20, axis=0))
    assert np.allclose(curve.rmsf_A, 0.0)


def test_hand_computed_window():
    # atom 0 alternates x = ±1 (deviation 1 from its mean at every t), atom 1 is still
    pos = np.zeros((4, 2, 3))
    pos[:, 0, 0] = [1, -1, 1, -1]
    assert window_rmsf(pos) == pytest.approx(math.sqrt((1 + 0) / 2))
    # a rigid translation by t along y over a window of 3: deviations -1, 0, 1 for every atom
    pos = np.zeros((3, 5, 3))
    pos[:, :, 1] = np.arange(3)[:, None]
    assert window_rmsf(pos) == pytest.approx(math.sqrt(2 / 3))


def test_paper_windows():
    starts = window_starts(100, window=5, start=80)
    assert starts[0] == 80 and starts[-1] == 95 and starts.size == 16
    curve = sliding_rmsf(np.zeros((100, 2, 3)), np.arange(100) * 2.0, start=80, label="x")
    assert curve.window_end[-1] == 99
    assert curve.time_ps[0] == pytest.approx(2.0 * 82)  # mean time of snapshots 80..84
    assert window_starts(100, 5, 80, stride=5).tolist() == [80, 85, 90, 95]
    with pytest.raises(ValueError):
        window_starts(4, window=5)


def test_rmsf_error_and_table():
    rng = np.random.default_rng(3)
    a = sliding_rmsf(rng.normal(size=(10, 3, 3)), label="a")
    b = sliding_rmsf(np.zeros((10, 3, 3)), label="b")
    assert rmsf_error(a, b) == pytest.approx(a.rmsf_A.mean())
    rows = curves_table([a, b])
    assert len(rows) == 12 and set(rows[0]) == {
        "label", "window_start_snapshot", "window_end_snapshot", "time_ps", "rmsf_A"
    }  # fmt: skip
    with pytest.raises(ValueError):
        rmsf_error(a, sliding_rmsf(np.zeros((10, 3, 3)), start=1))


def test_plot_is_a_valid_png(tmp_path):
    import matplotlib.image

    rng = np.random.default_rng(4)
    curves = [sliding_rmsf(rng.normal(size=(20, 4, 3)), label=n) for n in ("truth", "model")]
    path = plot_rmsf(curves, tmp_path / "rmsf.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["rmsf.png"]  # no temp file left
