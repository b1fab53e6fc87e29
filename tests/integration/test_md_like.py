"""The MD-like neuralmd-sde end to end on real MD: a few CPU minutes of `neuralmd train` on t4l
seed 0 (the study's recipe, benchmarks/md_like.yaml), then `neuralmd evaluate --metrics realism`
on the single-trajectory protocol (200 snapshots from snapshot 79 against the whole run)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from neuralmd_cli.app import app

runner = CliRunner()
RECIPE = Path(__file__).parents[2] / "benchmarks" / "md_like.yaml"


def test_few_cpu_minutes_of_training_give_md_like_fluctuations(refdata_dir: Path, tmp_path):
    d = refdata_dir / "t4l" / "seed0"
    data = tmp_path / "t4l.h5"
    prep = runner.invoke(app, ["prepare", str(d / "topology.pdb"), str(d / "traj.xtc"),
                               "--ligand", str(d / "ligand.sdf"), "-o", str(data), "--quiet"])  # fmt: skip
    assert prep.exit_code == 0, prep.output
    run = tmp_path / "run"
    train = runner.invoke(app, ["train", str(data), "--model", "neuralmd-sde", "--task", "single",
                                "--seed", "0", "--config", str(RECIPE), "-o", str(run),
                                "--no-progress"])  # fmt: skip
    assert train.exit_code == 0, train.stderr
    ev = runner.invoke(app, ["evaluate", "--model", str(run / "checkpoints" / "last.pt"),
                             "--data", str(data), "--format", "json", "--seed", "0",
                             "--snapshots", "200", "--metrics", "realism"])  # fmt: skip
    assert ev.exit_code == 0, ev.stderr
    row = next(r for r in json.loads(ev.stdout)["results"] if r["method"] == "neuralmd-sde")
    assert 0.8 <= row["rmsf_ratio"] <= 1.25, row
    assert row["bond_err_A"] <= 0.05 and row["collapse_ps"] is None, row
    assert 0.67 <= row["msd_ratio_lag1"] <= 1.5, row
    assert row["jsd_pairs"] <= row["floor_jsd_pairs"], row
    assert row["centroid_max_A"] <= 3.0 and row["clash_pct"] == 0.0, row
