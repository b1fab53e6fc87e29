"""evaluate on files equals the metrics on the same arrays; dataset mode equals file mode."""

import mdtraj as md
import numpy as np
import pytest

from neuralmd_core.data.store import open_dataset
from neuralmd_core.errors import InputError
from neuralmd_core.evaluation import metrics as M
from neuralmd_core.evaluation.dataset_mode import evaluate_dataset_report
from neuralmd_core.evaluation.evaluate import evaluate_files
from neuralmd_core.io.writers import read_ligand_trajectory, write_trajectory

from .conftest import save_reference_checkpoint


def _ligand_xyz(traj, top):
    """Independent read: mdtraj directly, TMP heavy atoms, Å."""
    t = md.load(str(traj), top=str(top))
    idx = t.topology.select("resname TMP and not element H")
    return t.xyz[:, idx] * 10.0


def test_files_equal_library_metrics_on_the_same_arrays(refdata_dir):
    top = refdata_dir / "t4l" / "seed0" / "topology.pdb"
    pred, ref = (
        refdata_dir / "t4l" / "seed1" / "traj.xtc",
        refdata_dir / "t4l" / "seed0" / "traj.xtc",
    )
    report = evaluate_files(pred, ref, top)
    row = report.rows[0]
    p, r = _ligand_xyz(pred, top), _ligand_xyz(ref, top)
    assert row["snapshots"] == 100 and report.meta["ref_frames"] == [0, 99]
    assert row["mae_A"] == pytest.approx(M.mae(p, r).mean(), rel=1e-6)
    assert row["rmse_A"] == pytest.approx(M.rmse(p, r).mean(), rel=1e-6)
    assert row["matching_A"] == pytest.approx(M.matching(p, r).mean(), rel=1e-5)
    assert row["stability_pct"] == pytest.approx(M.stability(p, r).mean())
    assert row["rmsd_A"] == pytest.approx(M.rmsd(p, r).mean(), rel=1e-6)
    assert 0 < row["bond_dev_A"] < 0.1 and row["clash_pct"] == 0.0
    assert len(report.per_snapshot) == 100 and report.per_snapshot[5]["time_ps"] == 5.0
    same = evaluate_files(ref, ref, top, metrics=["mae", "stability"]).rows[0]
    assert same["mae_A"] == 0.0 and same["stability_pct"] == 100.0 and "rmse_A" not in same


def test_short_prediction_covers_the_tail(tmp_path, refdata_dir):
    d = refdata_dir / "t4l"
    full = md.load(str(d / "seed0" / "topology.pdb"))
    protein = full.atom_slice(full.topology.select("protein"))
    lig = read_ligand_trajectory(d / "seed1" / "traj.xtc", d / "seed0" / "topology.pdb")
    pred, pred_top = write_trajectory(
        tmp_path / "pred.xtc", protein.topology, protein.xyz[0] * 10, lig.lig_z, lig.lig_names,
        "TMP", lig.lig_pos_A[80:], lig.time_ps[80:], lig.bonds,
    )  # fmt: skip
    report = evaluate_files(pred, d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb")
    assert report.meta["ref_frames"] == [80, 99] and report.meta["pred_top"] == str(pred_top)
    r = _ligand_xyz(d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb")[80:]
    assert report.rows[0]["rmse_A"] == pytest.approx(M.rmse(lig.lig_pos_A[80:], r).mean(), abs=2e-3)
    shifted = evaluate_files(pred, d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb", start=0)
    assert shifted.meta["ref_frames"] == [0, 19]
    with pytest.raises(InputError, match="do not fit"):
        evaluate_files(pred, d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb", start=90)
    slow, _ = write_trajectory(
        tmp_path / "slow.xtc", protein.topology, protein.xyz[0] * 10, lig.lig_z, lig.lig_names,
        "TMP", lig.lig_pos_A[80:], 2 * lig.time_ps[80:], lig.bonds,
    )  # fmt: skip
    with pytest.raises(InputError, match="snapshot interval 2 ps"):
        evaluate_files(slow, d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb")


def test_mismatched_ligand_is_an_input_error(refdata_dir):
    g = refdata_dir / "11gs" / "seed0"
    t = refdata_dir / "t4l" / "seed0"
    with pytest.raises(InputError, match="differs from the reference ligand"):
        evaluate_files(
            g / "traj.xtc", t / "traj.xtc", t / "topology.pdb", pred_top=g / "topology.pdb"
        )


def test_dataset_mode_equals_file_mode(tmp_path, t4l_dataset):
    names = ["t4l_seed0", "t4l_seed1", "t4l_seed2"]
    single = save_reference_checkpoint(tmp_path / "single.pt", "mean-pose", "single", names)
    multi = save_reference_checkpoint(tmp_path / "multi.pt", "static", "multi", names)
    out = tmp_path / "preds"
    report = evaluate_dataset_report([single, multi], t4l_dataset, write_predictions=out)
    rows = {(r["method"], r["task"]): r for r in report.rows}
    # each protocol's floor is reported once beside the model
    assert [(r["method"], r["model"]) for r in report.rows] == [
        ("mean-pose", str(single)), ("static", "reference"), ("mean-pose-2", "reference"),
        ("static-2", str(multi)), ("static-3", "reference"), ("mean-pose-3", "reference"),
    ]  # fmt: skip
    assert rows[("mean-pose", "single")]["snapshots"] == 20
    assert rows[("static-2", "multi")]["snapshots"] == 2 * 99
    assert rows[("mean-pose", "single")]["mae_A"] == rows[("mean-pose-2", "single")]["mae_A"]
    # the written static prediction of t4l_seed0, scored as files, gives the same row
    files = evaluate_files(out / "static" / "t4l_seed0.xtc", out / "reference" / "t4l_seed0.xtc",
                           out / "reference" / "t4l_seed0.pdb").rows[0]  # fmt: skip
    assert files["snapshots"] == 20
    for col in ("mae_A", "rmse_A", "matching_A", "rmsd_A", "bond_dev_A"):
        assert files[col] == pytest.approx(rows[("static", "single")][col], abs=0.01), col
    for col in ("stability_pct", "bond_broken_pct", "clash_pct"):
        assert files[col] == rows[("static", "single")][col]
    top = md.load(str(out / "static" / "t4l_seed0.pdb")).topology
    assert [r.name for r in top.residues][-1] == "TMP"
    assert {a.name for a in top.atoms if a.residue.is_protein} == {"N", "CA", "C"}


def test_dataset_mode_errors(tmp_path, t4l_dataset):
    bad = save_reference_checkpoint(tmp_path / "bad.pt", "static", "multi", ["nope", "nope2"])
    with pytest.raises(InputError, match="no trajectory 'nope2'"):
        evaluate_dataset_report([bad], t4l_dataset)
    ok = save_reference_checkpoint(
        tmp_path / "ok.pt", "static", "multi", ["t4l_seed0", "t4l_seed1"]
    )
    with pytest.raises(InputError, match="split 'holdout'"):
        evaluate_dataset_report([ok], t4l_dataset, split="holdout")


def test_stochastic_method_scores_one_sample_and_the_mean_of_k(tmp_path, t4l_dataset):
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.checkpoint import save_checkpoint
    from neuralmd_core.training.tasks import single_split

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    sde = build_method("neuralmd-sde", {"hidden": 8, "num_radial": 4, "num_ligand_layers": 1},
                       {"sigma_init": 0.2})  # fmt: skip
    meta = {"task": "single", "snapshot_interval_ps": 1.0,
            "splits": single_split("t4l_seed0", 100, 0.8, 0.1, 3).as_dict()}  # fmt: skip
    ckpt = save_checkpoint(tmp_path / "sde.pt", sde, meta) or tmp_path / "sde.pt"
    rows = {r["method"]: r for r in evaluate_dataset_report([ckpt], t4l_dataset, samples=4).rows}
    assert set(rows) == {"neuralmd-sde", "neuralmd-sde[mean of 4]", "static", "mean-pose"}
    one, mean = rows["neuralmd-sde"], rows["neuralmd-sde[mean of 4]"]
    assert one["snapshots"] == mean["snapshots"] == 20
    assert one["mae_A"] != mean["mae_A"]
    # a deterministic method ignores --samples: no extra row
    det = save_reference_checkpoint(tmp_path / "static.pt", "static", "single", ["t4l_seed0"])
    labels = [r["method"] for r in evaluate_dataset_report([det], t4l_dataset, samples=4).rows]
    assert labels == ["static", "static-2", "mean-pose"]


def test_dataset_realism_rolls_out_from_the_last_known_snapshot(tmp_path, t4l_dataset):
    names = ["t4l_seed0"]
    ckpt = save_reference_checkpoint(tmp_path / "static.pt", "static", "single", names)
    paired = {r["method"]: r for r in evaluate_dataset_report([ckpt], t4l_dataset).rows}
    out = tmp_path / "preds"
    report = evaluate_dataset_report([ckpt], t4l_dataset, metrics=["mae", "realism"],
                                     snapshots=30, write_predictions=out)  # fmt: skip
    rows = {r["method"]: r for r in report.rows}
    assert set(rows) == {"static", "static-2", "mean-pose"}
    static = rows["static"]
    # paired metrics: the first 20 snapshots of the same rollout, unchanged for a deterministic one
    assert static["snapshots"] == 20 and static["mae_A"] == pytest.approx(paired["static"]["mae_A"])
    # a frozen pose: no fluctuation, no motion, far from MD's distributions
    assert static["rmsf_ratio"] == 0.0 and static["msd_ratio_lag1"] == 0.0
    assert static["jsd_pairs"] > static["floor_jsd_pairs"]
    assert 0.5 < static["floor_rmsf_ratio"] < 2.0 and static["floor_collapse_ps"] is None
    assert report.meta["realism"]["snapshots"] == 30
    # the rollout starts from snapshot 79: 30 frames at 80..109 ps, all equal to snapshot 79
    written = md.load(
        str(out / "static" / "t4l_seed0.xtc"), top=str(out / "static" / "t4l_seed0.pdb")
    )
    assert written.n_frames == 30 and written.time[0] == pytest.approx(80.0)
    with open_dataset(t4l_dataset) as ds:
        s79 = ds.load("t4l_seed0").lig_pos[79]
    lig = written.topology.select("resname TMP")
    assert np.abs(written.xyz[:, lig] * 10 - s79).max() < 0.01


def test_dataset_realism_alone_and_plot(tmp_path, t4l_dataset):
    ckpt = save_reference_checkpoint(tmp_path / "mp.pt", "mean-pose", "multi",
                                     ["t4l_seed0", "t4l_seed1", "t4l_seed2"])  # fmt: skip
    plot = tmp_path / "r.png"
    rows = evaluate_dataset_report([ckpt], t4l_dataset, metrics=["rmsf", "collapse"],
                                   snapshots=12, plot=plot, references=()).rows  # fmt: skip
    assert [r["method"] for r in rows] == ["mean-pose"]
    assert rows[0]["snapshots"] == 2 * 12 and "mae_A" not in rows[0]
    assert set(rows[0]) >= {"rmsf_ratio", "floor_rmsf_ratio", "collapse_ps", "floor_collapse_ps"}
    # two test trajectories: one figure each
    for name in ("t4l_seed1", "t4l_seed2"):
        assert (tmp_path / f"r_{name}.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="realism metric"):
        evaluate_dataset_report([ckpt], t4l_dataset, metrics=["mae"], plot=plot)
    with pytest.raises(InputError, match="--snapshots"):
        evaluate_dataset_report([ckpt], t4l_dataset, metrics=["rmsf"], snapshots=0)
