"""`neuralmd rmsf` end to end: table, CSV and PNG from real trajectories."""

import csv

from typer.testing import CliRunner

from neuralmd_cli.app import app

runner = CliRunner()


def test_rmsf_csv_plot_and_table(refdata_dir, tmp_path):
    d = refdata_dir / "t4l"
    top = d / "seed0" / "topology.pdb"
    res = runner.invoke(app, [
        "rmsf", str(d / "seed0" / "traj.xtc"), str(d / "seed1" / "traj.dcd"), "--top", str(top),
        "--start", "80", "--labels", "seed0,seed1", "--csv", str(tmp_path / "r.csv"),
        "--plot", str(tmp_path / "r.png"),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((tmp_path / "r.csv").read_text().splitlines()))
    assert len(rows) == 2 * 16
    assert list(rows[0]) == [
        "label",
        "window_start_snapshot",
        "window_end_snapshot",
        "time_ps",
        "rmsf_A",
    ]
    assert rows[0]["window_start_snapshot"] == "80" and rows[15]["window_end_snapshot"] == "99"
    assert all(0.05 < float(r["rmsf_A"]) < 3.0 for r in rows)  # a ligand jiggling in its pocket
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(res.stdout.splitlines()) == 2 + 32


def test_rmsf_bad_inputs(refdata_dir, tmp_path):
    top = refdata_dir / "t4l" / "seed0" / "topology.pdb"
    traj = refdata_dir / "t4l" / "seed0" / "traj.xtc"
    for args, needle in [
        ([str(tmp_path / "none.xtc"), "--top", str(top)], "not found"),
        ([str(traj), "--top", str(top), "--labels", "a,b"], "2 labels for 1"),
        ([str(traj), "--top", str(top), "--window", "200"], "no window"),
    ]:
        res = runner.invoke(app, ["rmsf", *args])
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0]
    assert list(tmp_path.iterdir()) == []
