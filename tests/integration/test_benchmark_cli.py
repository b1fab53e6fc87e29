"""`neuralmd benchmark` through the CLI: FPS records per (model, batch), the OpenMM speed-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuralmd_cli.app import app

runner = CliRunner()
RECORD_FIELDS = {"fps", "fps_min", "fps_max", "batch", "snapshots", "device", "ns_per_day",
                 "evals_per_snapshot", "eval_ms", "eval_share", "peak_mem_MiB", "mem_kind",
                 "compiled", "compile_s", "threads"}  # fmt: skip


def _bench(t4l_seed0: Path, *args) -> object:
    """``--ensemble-snapshots 0`` unless the test's own arguments (they come last) say more."""
    d = t4l_seed0
    return runner.invoke(app, ["benchmark", str(d / "topology.pdb"), str(d / "ligand.sdf"),
                               "--snapshots", "5", "--repeats", "1", "--device", "cpu",
                               "--format", "json", "--ensemble-snapshots", "0",
                               *map(str, args)])  # fmt: skip


def _check_records(payload: dict, models: list[str], batches: list[int]) -> list[dict]:
    assert {"cpu", "threads", "torch", "python"} <= set(payload["meta"]["machine"])
    records = payload["results"]
    assert [(r["model"], r["batch"]) for r in records] == [(m, b) for m in models for b in batches]
    for r in records:
        assert RECORD_FIELDS <= set(r), r
        assert (r["snapshots"], r["device"]) == (5, "cpu")
        assert 0 < r["fps_min"] <= r["fps"] <= r["fps_max"]
        # fps counts batch × snapshots frames in the median wall time
        assert r["fps"] == pytest.approx(r["batch"] * r["snapshots"] / r["wall_s"])
        assert r["ns_per_day"] == pytest.approx(86400 / r["model_s_per_ps"] / 1000)
        assert (r["compiled"], r["compile_s"], r["mem_kind"]) == (False, 0.0, "rss")
        assert isinstance(r["evals_per_snapshot"], int) and r["evals_per_snapshot"] >= 1
        assert isinstance(r["threads"], int) and r["threads"] >= 1
        assert isinstance(r["eval_ms"], float) and 0 < r["eval_ms"]
        assert 0 < r["eval_share"] <= 1
        assert r["peak_mem_MiB"] > 0
    return records


def test_fps_records_per_model_and_batch(t4l_seed0, ckpt_dir, ode_ckpt, make_ckpt):
    sde = make_ckpt(ckpt_dir / "bench_sde.pt", "neuralmd-sde")
    result = _bench(t4l_seed0, "--model", ode_ckpt, "--model", sde, "--batch", "1,2")
    assert result.exit_code == 0, result.stderr
    records = _check_records(json.loads(result.stdout), [ode_ckpt.name, sde.name], [1, 2])
    assert [r["method"] for r in records] == ["neuralmd-ode"] * 2 + ["neuralmd-sde"] * 2
    assert all("speedup" not in r for r in records)


def test_repeats_give_a_range(t4l_seed0, ode_ckpt):
    result = _bench(t4l_seed0, "--model", ode_ckpt, "--batch", "2", "--repeats", "3")
    assert result.exit_code == 0, result.stderr
    (rec,) = _check_records(json.loads(result.stdout), [ode_ckpt.name], [2])
    assert rec["fps_min"] < rec["fps_max"]  # three independent timings never coincide


def test_openmm_speedup(t4l_seed0, ode_ckpt, ckpt_interval_ps):
    pytest.importorskip("openmm")
    d = t4l_seed0
    result = _bench(d, "--model", ode_ckpt, "--batch", "1,2", "--openmm-ps", "0.02",
                    "--openmm-system", d / "openmm_system.xml",
                    "--openmm-integrator", d / "openmm_integrator.xml",
                    "--openmm-state", d / "openmm_state.xml", "--ensemble-snapshots", "10",
                    "--ensemble-ref", d / "traj.xtc", "--ensemble-ref-top", d / "topology.pdb")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for r in _check_records(json.loads(result.stdout), [ode_ckpt.name], [1, 2]):
        assert r["md_s_per_ps"] > 0 and r["speedup"] > 0
        assert r["md_platform"] == "CPU" and r["md_steps"] == 5  # 0.02 ps of 4 fs steps
        assert r["snapshot_interval_ps"] == ckpt_interval_ps
        # speedup = MD s/ps over model s/ps, the model covering one interval per snapshot
        model_s_per_ps = r["wall_s"] / (r["batch"] * r["snapshots"] * ckpt_interval_ps)
        assert r["speedup"] == pytest.approx(r["md_s_per_ps"] / model_s_per_ps)
        # MD time to ensemble: K replicas × n* frames × interval × MD seconds per ps
        md_wall = 1 * r["md_ensemble_snapshots"] * r["md_frame_interval_ps"] * r["md_s_per_ps"]
        assert r["md_ensemble_wall_s"] == pytest.approx(md_wall)
        assert r["ensemble_speedup"] == pytest.approx(md_wall / r["ensemble_wall_s"])


def test_time_to_ensemble(t4l_seed0, ode_ckpt):
    d = t4l_seed0
    result = _bench(d, "--model", ode_ckpt, "--batch", "2", "--ensemble-snapshots", "20",
                    "--ensemble-ref", d / "traj.xtc", "--ensemble-ref-top", d / "topology.pdb")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (r,) = _check_records(json.loads(result.stdout), [ode_ckpt.name], [2])
    assert r["ensemble_length"] == 20 and 2 <= r["ensemble_snapshots"] <= 20
    # the model's wall: n* snapshots at the median wall per snapshot of this batch
    assert r["ensemble_wall_s"] == pytest.approx(r["ensemble_snapshots"] * r["wall_s"] / 5)
    assert 2 <= r["md_ensemble_snapshots"] <= 100
    assert (r["md_ensemble_length"], r["md_ensemble_replicas"]) == (100, 1)
    assert r["md_frame_interval_ps"] == pytest.approx(1.0)
    assert "md_ensemble_wall_s" not in r and "ensemble_speedup" not in r  # no OpenMM timing


def test_table_format(t4l_seed0, ode_ckpt):
    d = t4l_seed0
    result = runner.invoke(app, ["benchmark", str(d / "topology.pdb"), str(d / "ligand.sdf"),
                                 "--model", str(ode_ckpt), "--snapshots", "2", "--batch", "1",
                                 "--repeats", "1", "--device", "cpu",
                                 "--ensemble-snapshots", "0"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    header, rule, row = result.stdout.strip().splitlines()
    # a chosen few columns (no speed-ups without OpenMM); json and csv keep every field
    assert header.split() == ["model", "method", "batch", "compiled", "threads", "fps",
                              "ns_per_day", "evals/snap", "eval_ms", "peak_MiB"]  # fmt: skip
    assert row.startswith(ode_ckpt.name) and row.split()[3] == "no"
    assert max(len(line.rstrip()) for line in (header, rule, row)) <= 120


@pytest.mark.parametrize(
    "args,name",
    [
        (["--openmm-system", "{d}/openmm_system.xml"], "--openmm"),
        (
            [
                "--openmm-system",
                "{d}/openmm_system.xml",
                "--openmm-integrator",
                "{d}/openmm_integrator.xml",
            ],
            "--openmm",
        ),  # fmt: skip
        (["--model", "{tmp}/missing.pt"], "missing.pt"),
        (["--batch", "1,x"], "--batch"),
        (["--batch", "0"], "--batch"),
    ],
)
def test_bad_inputs_exit_2(t4l_seed0, ode_ckpt, tmp_path, args, name):
    args = [a.replace("{d}", str(t4l_seed0)).replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(ode_ckpt)]
    result = _bench(t4l_seed0, *args)
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("neuralmd: error: ") and name in line, line


def test_openmm_file_that_is_not_openmm_xml(t4l_seed0, ode_ckpt):
    pytest.importorskip("openmm")
    d = t4l_seed0
    result = _bench(d, "--model", ode_ckpt, "--batch", "1",
                    "--openmm-system", d / "openmm_system.xml",
                    "--openmm-integrator", d / "topology.pdb",
                    "--openmm-state", d / "openmm_state.xml")  # fmt: skip
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("neuralmd: error: ") and "topology.pdb" in line
