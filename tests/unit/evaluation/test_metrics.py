"""The spec §6 metrics on hand-computed cases, and micro vs macro averaging."""

import math

import numpy as np
import pytest
import torch

from neuralmd_core.evaluation import metrics as M

# Two atoms 3 Å apart on x; the prediction moves atom 1 by (1, 2, 2) (|Δ|₁ = 5, ‖Δ‖₂ = 3).
REF = np.array([[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]])
PRED = np.array([[[0.0, 0.0, 0.0], [4.0, 2.0, 2.0]]])


def test_hand_computed_values():
    assert M.mae(PRED, REF) == pytest.approx([(0 + 5) / 2])
    assert M.rmse(PRED, REF) == pytest.approx([(0 + 3) / 2])
    assert M.rmsd(PRED, REF) == pytest.approx([math.sqrt((0 + 9) / 2)])
    dd = math.sqrt(24) - 3.0  # new distance √(16+4+4) minus 3
    # 2×2 matrix: two zero diagonal entries and two off-diagonal entries equal to dd
    assert M.matching(PRED, REF) == pytest.approx([math.sqrt(2 * dd**2 / 4)])
    assert M.stability(PRED, REF) == pytest.approx([50.0])  # only the diagonal is stable
    assert M.stability(PRED, REF, threshold=2.0) == pytest.approx([100.0])


def test_identical_prediction_is_perfect():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5, 3)) * 3
    vals = M.snapshot_metrics(x, x, bonds=[[0, 1], [1, 2]], protein_xyz=x[0] + 100.0)
    for col in (
        "mae_A",
        "rmse_A",
        "matching_A",
        "rmsd_A",
        "bond_dev_A",
        "bond_broken_pct",
        "clash_pct",
    ):
        assert np.allclose(vals[col], 0.0), col
    assert np.allclose(vals["stability_pct"], 100.0)


def test_isotropic_error_ratio_is_one_and_a_half():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(4, 50_000, 3))
    pred = ref + rng.normal(scale=0.7, size=ref.shape)
    mae, rmse = M.mae(pred, ref).mean(), M.rmse(pred, ref).mean()
    assert mae / rmse == pytest.approx(1.5, abs=0.01)
    assert rmse == pytest.approx(2 * 0.7 * math.sqrt(2 / math.pi), rel=0.01)
    assert mae > rmse


def test_torch_inputs_match_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 4, 3))
    assert np.allclose(M.mae(torch.tensor(a), torch.tensor(b)), M.mae(a, b))
    assert np.allclose(
        M.matching(torch.tensor(a, dtype=torch.float32), b), M.matching(a, b), atol=1e-6
    )


def test_bonds_and_clashes():
    ref = np.array([[[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]]] * 2)
    pred = np.array([[[0.0, 0.0, 0.0], [1.9, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.7, 0.0, 0.0]]])
    assert M.bond_deviation(pred, ref, [[0, 1]]) == pytest.approx([0.4, 0.2])
    assert M.bond_broken(pred, ref, [[0, 1]]) == pytest.approx([100.0, 0.0])
    assert np.isnan(M.bond_deviation(pred, ref, np.zeros((0, 2)))).all()
    protein = np.array([[1.9 + 1.95, 0.0, 0.0]])  # 1.95 Å from atom 1 of snapshot 0, 2.15 of 1
    assert M.clashes(pred, protein) == pytest.approx([100.0, 0.0])
    assert M.clashes(pred, np.zeros((0, 3))) == pytest.approx([0.0, 0.0])


def test_micro_and_macro_averaging_with_different_atom_counts():
    # complex A: 1 atom, 1 snapshot, |Δ|₁ = 1; complex B: 3 atoms, 3 snapshots, |Δ|₁ = 3 each
    a_ref, b_ref = np.zeros((1, 1, 3)), np.zeros((3, 3, 3))
    a_pred = a_ref + [1.0, 0, 0]
    b_pred = b_ref + [3.0, 0, 0]
    per = [M.snapshot_metrics(a_pred, a_ref, ["mae", "rmsd"]),
           M.snapshot_metrics(b_pred, b_ref, ["mae", "rmsd"])]  # fmt: skip
    micro = M.summarize(per, num_atoms=[1, 3], num_bonds=[0, 0])
    macro = M.summarize(per, num_atoms=[1, 3], num_bonds=[0, 0], mode="macro")
    # MAE micro: Σ over (atom, snapshot) / count = (1·1 + 9·3) / (1 + 9)
    assert micro["mae_A"] == pytest.approx((1 + 27) / 10)
    assert macro["mae_A"] == pytest.approx((1 + 3) / 2)
    # RMSD is per snapshot: micro = mean over the 4 (complex, snapshot) pairs
    assert micro["rmsd_A"] == pytest.approx((1 + 3 * 3) / 4)
    assert macro["rmsd_A"] == pytest.approx((1 + 3) / 2)


def test_aggregate_ignores_weightless_complexes_and_rejects_bad_mode():
    assert M.aggregate([np.array([np.nan]), np.array([2.0, 4.0])], [0, 1]) == pytest.approx(3.0)
    assert math.isnan(M.aggregate([np.array([1.0])], [0]))
    with pytest.raises(ValueError):
        M.aggregate([np.array([1.0])], mode="median")


def test_parse_metrics():
    assert M.parse_metrics("stability") == ("stability",)
    assert M.parse_metrics(" mae, rmse,mae ") == ("mae", "rmse")
    assert M.parse_metrics(None) == M.DEFAULT_METRICS
    with pytest.raises(ValueError, match="energy"):
        M.parse_metrics("mae,energy")
    with pytest.raises(ValueError):
        M.mae(np.zeros((2, 3, 3)), np.zeros((2, 4, 3)))
