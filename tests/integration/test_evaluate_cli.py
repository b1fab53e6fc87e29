"""`neuralmd evaluate` end to end on the real reference trajectories."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuralmd_cli.app import app
from neuralmd_core.evaluation.evaluate import evaluate_files

runner = CliRunner()


@pytest.fixture(scope="module")
def t4l(refdata_dir):
    d = refdata_dir / "t4l"
    return d / "seed1" / "traj.xtc", d / "seed0" / "traj.xtc", d / "seed0" / "topology.pdb"


def _run(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def test_json_matches_library_and_has_the_documented_schema(t4l):
    pred, ref, top = t4l
    res = _run(pred, "--ref", ref, "--top", top, "--format", "json")
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert set(payload) == {"meta", "results"}
    assert payload["meta"]["mode"] == "files" and payload["meta"]["averaging"] == "micro"
    row = payload["results"][0]
    lib = evaluate_files(pred, ref, top).rows[0]
    for col in ("mae_A", "rmse_A", "matching_A", "stability_pct", "rmsd_A", "bond_dev_A",
                "bond_broken_pct", "clash_pct"):  # fmt: skip
        assert row[col] == pytest.approx(lib[col]), col
    # two 100-frame replicas with times 0..99 ps: paired by time, said in one line on stderr
    assert res.stderr.splitlines() == [
        f"neuralmd: {pred}: predicted frames 0..99 paired with reference frames 0..99 by time "
        "(0-99 ps)"
    ]
    assert payload["meta"]["pairing"] == {"rule": "time", "pred_frames": [0, 99],
                                          "ref_frames": [0, 99], "note": ""}  # fmt: skip


def test_stability_alone_table_and_csv(t4l, tmp_path):
    pred, ref, top = t4l
    res = _run(pred, "--ref", ref, "--top", top, "--metrics", "stability",
               "--stability-threshold", "0.01")  # fmt: skip
    assert res.exit_code == 0, res.output
    header = res.stdout.splitlines()[0].split()
    assert header == ["method", "trajectories", "snapshots", "stability_pct"]
    per = tmp_path / "snap.csv"
    res = _run(pred, "--ref", ref, "--top", top, "--metrics", "mae,rmse", "--format", "csv",
               "--per-snapshot", per)  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert len(rows) == 1 and float(rows[0]["mae_A"]) > float(rows[0]["rmse_A"]) > 0
    snaps = list(csv.DictReader(per.read_text().splitlines()))
    assert len(snaps) == 100 and list(snaps[0])[:4] == [
        "method",
        "trajectory",
        "snapshot",
        "time_ps",
    ]
    mean = sum(float(s["mae_A"]) for s in snaps) / 100
    assert mean == pytest.approx(float(rows[0]["mae_A"]), rel=1e-3)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{tmp}/missing.xtc", "--ref", "{ref}", "--top", "{top}"], "not found"),
        (["{g}/traj.xtc", "--ref", "{ref}", "--top", "{top}", "--pred-top", "{g}/topology.pdb"],
         "differs from the reference ligand"),
        (["{pred}", "--ref", "{ref}", "--top", "{top}", "--metrics", "energy"], "unknown metric"),
        (["{pred}", "--ref", "{ref}", "--top", "{top}", "--ligand-resname", "XYZ"], "XYZ"),
        (["{pred}", "--ref", "{ref}"], "give PRED --ref REF --top TOP"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_with_one_line(t4l, refdata_dir, tmp_path, args, needle):
    pred, ref, top = t4l
    fill = {"tmp": tmp_path, "ref": ref, "top": top, "pred": pred,
            "g": refdata_dir / "11gs" / "seed0"}  # fmt: skip
    res = _run(*[a.format(**fill) for a in args])
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuralmd: error:") and needle in lines[0]


def test_dataset_mode_cli(tmp_path, refdata_dir):
    from neuralmd_core.data.prepare import prepare_from_md
    from neuralmd_core.data.store import write_systems
    from neuralmd_core.dynamics.registry import build_method
    from neuralmd_core.training.checkpoint import save_checkpoint

    d = refdata_dir / "t4l"
    systems = prepare_from_md(
        d / "seed0" / "topology.pdb", [d / f"seed{k}" / "traj.xtc" for k in (0, 1)]
    )
    write_systems(tmp_path / "data.h5", systems)
    splits = {"train": ["t4l_seed0"], "val": ["t4l_seed0"], "test": ["t4l_seed1"]}
    save_checkpoint(tmp_path / "m.pt", build_method("static"), {"task": "multi", "splits": splits})
    res = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m.pt"), "--data",
                              str(tmp_path / "data.h5"), "--format", "json",
                              "--write-predictions", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    assert [r["method"] for r in results] == ["static", "static-2", "mean-pose"]
    assert (tmp_path / "out" / "static" / "t4l_seed1.xtc").is_file()
    assert (tmp_path / "out" / "reference" / "t4l_seed1.pdb").is_file()
    # realism: --snapshots from the last known snapshot (multi task: snapshot 0), table output
    res = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m.pt"), "--data",
                              str(tmp_path / "data.h5"), "--metrics", "realism", "--snapshots",
                              "15", "--format", "csv"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert [r["snapshots"] for r in rows] == ["15", "15", "15"]
    assert float(rows[0]["rmsf_ratio"]) == 0.0 and float(rows[0]["floor_rmsf_ratio"]) > 0.5


def _realism(*args):
    res = _run(*args, "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_realism_of_an_independent_replica(t4l, tmp_path):
    pred, ref, top = t4l
    plot = tmp_path / "realism.png"
    payload = _realism(pred, "--ref", ref, "--top", top, "--metrics", "realism", "--plot", plot)
    row = payload["results"][0]
    assert payload["meta"]["metrics"][-1] == "clashes"
    assert payload["meta"]["columns"] == [k for k in row if k not in ("method", "trajectories",
                                                                      "snapshots")]  # fmt: skip
    assert 0.8 <= row["rmsf_ratio"] <= 1.25 and row["jsd_pairs"] < row["floor_jsd_pairs"]
    assert row["collapse_ps"] is None and row["jsd_torsions"] is None  # p-xylene: none rotatable
    assert plot.read_bytes()[:4] == b"\x89PNG" and oct(plot.stat().st_mode & 0o777) == "0o644"
    # members by name, CSV
    res = _run(pred, "--ref", ref, "--top", top, "--metrics", "rmsf_ratio,bonds", "--format", "csv")
    assert res.exit_code == 0, res.output
    header = res.stdout.splitlines()[0].split(",")
    assert header[3:] == ["bond_dev_A", "bond_broken_pct", "rmsf_ratio", "floor_rmsf_ratio",
                          "rmsf_err", "floor_rmsf_err"]  # fmt: skip


def test_readme_first_command_writes_an_md_like_trajectory(t4l_seed0, tmp_path):
    """README's first command with the bundled default model (the MD-like neuralmd-sde), judged
    against t4l seed 0 by the realism targets of docs/results.md."""
    out = tmp_path / "t4l.xtc"
    example = Path(__file__).resolve().parents[2] / "examples" / "t4l"
    res = runner.invoke(app, ["rollout", str(example / "complex.pdb"), str(example / "ligand.sdf"),
                              "-o", str(out), "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 0, res.output
    # 101 predicted frames against a 100-frame reference: realism never pairs frames
    row = _realism(out, "--ref", t4l_seed0 / "traj.xtc", "--top", t4l_seed0 / "topology.pdb",
                   "--metrics", "realism")["results"][0]  # fmt: skip
    assert row["snapshots"] == 101
    assert row["bond_err_A"] <= 0.05 and row["collapse_ps"] is None, row
    assert 0.8 <= row["rmsf_ratio"] <= 1.25, row
    assert 0.67 <= row["msd_ratio_lag1"] <= 1.5 and 0.67 <= row["msd_ratio_lag10"] <= 1.5, row
    assert row["jsd_pairs"] <= row["floor_jsd_pairs"], row
    assert row["jsd_centroid"] <= row["floor_jsd_centroid"], row
    assert row["centroid_max_A"] <= 3.0, row
    assert row["clash_pct"] <= row["floor_clash_pct"], (
        row
    )  # MD itself clashes with frame 0's protein


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--metrics", "mae", "--plot", "p.png"], "--plot: draws the realism panels"),
        (["--metrics", "realism", "--plot", "p.bmp"], "p.bmp: --plot: unknown extension '.bmp'"),
        (["--metrics", "realism", "--plot", "nodir/p.png"], "output folder does not exist"),
        (["--metrics", "realism,speed"], "--metrics: unknown metric 'speed'"),
    ],
)
def test_realism_bad_options(t4l, tmp_path, monkeypatch, extra, needle):
    monkeypatch.chdir(tmp_path)
    pred, ref, top = t4l
    res = _run(pred, "--ref", ref, "--top", top, *extra)
    assert res.exit_code == 2 and needle in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_realism_refuses_a_different_snapshot_interval(t4l, tmp_path):
    import mdtraj as md

    pred, ref, top = t4l
    t = md.load(str(pred), top=str(top))
    t.time = t.time * 2
    slow = tmp_path / "slow.xtc"
    t.save_xtc(str(slow))
    res = _run(slow, "--ref", ref, "--top", top, "--metrics", "msd")
    assert res.exit_code == 2 and "snapshot interval 2 ps differs" in res.stderr
