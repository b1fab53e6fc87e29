"""`neuralmd train` through the CLI: results on stdout, one-line errors on stderr, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuralmd_cli.app import app

runner = CliRunner()
TINY = "network: {hidden: 16, num_radial: 16, num_ligand_layers: 1, num_complex_layers: 1}\n"


@pytest.fixture(scope="module")
def dataset(refdata_dir: Path, tmp_path_factory) -> Path:
    """T4L seed 0 through `neuralmd prepare` (every 4th snapshot: 25 frames)."""
    out = tmp_path_factory.mktemp("cli") / "t4l.h5"
    d = refdata_dir / "t4l" / "seed0"
    args = ["prepare", str(d / "topology.pdb"), str(d / "traj.xtc"), "--ligand",
            str(d / "ligand.sdf"), "--stride", "4", "-o", str(out), "--quiet"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def _train(*args: str):
    return runner.invoke(app, ["train", *args, "--no-progress"])


def test_static_run_prints_one_json_line(dataset, tmp_path):
    result = _train(str(dataset), "--model", "static", "-o", str(tmp_path / "run"))
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    summary = json.loads(line)
    assert summary["method"] == "static" and summary["best_epoch"] == 0
    assert Path(summary["checkpoint"]).is_file()
    assert (tmp_path / "run" / "config.yaml").read_text().startswith("model: static")


def test_tiny_training_run_and_resume(dataset, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY + "epochs: 5\ntrain_fraction: 0.5\nbatch_size: 8\n")
    base = [str(dataset), "--model", "gnn-md", "-c", str(cfg), "-o", str(tmp_path / "r")]
    first = _train(*base, "--epochs", "1")  # the flag overrides the file's 5
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["epochs"] == 1
    again = _train(*base, "--epochs", "1")
    assert again.exit_code == 2 and "not empty" in again.stderr
    resumed = _train(*base, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["epochs"] == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.h5", "--model", "static"], "dataset not found"),
        (["{data}", "--model", "static", "--trajectory", "nope"], "no trajectory named 'nope'"),
        (["{data}", "--model", "transformer-md"], "unknown method"),
        (["{data}", "--model", "static", "--task", "multi"], "at least 3 trajectories"),
        (["{data}", "--model", "gnn-md", "--adjoint"], "unknown key 'method.adjoint'"),
    ],
)
def test_bad_inputs_give_one_stderr_line_and_exit_2(dataset, tmp_path, args, message):
    args = [a.replace("{data}", str(dataset)) for a in args]
    result = _train(*args, "-o", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("neuralmd: error: ") and message in line
