"""`neuralmd rmsf` end to end: table, CSV and PNG from real trajectories."""

import csv

from typer.testing import CliRunner

from neuralmd_cli.app import app

runner = CliRunner()


def test_rmsf_csv_plot_and_table(refdata_dir, tmp_path):
    import mdtraj as md

    d = refdata_dir / "t4l"
    top = d / "seed0" / "topology.pdb"
    dcd = tmp_path / "seed1.dcd"  # written by mdtraj: no time step in its header
    md.load(str(d / "seed1" / "traj.xtc"), top=str(top)).save_dcd(str(dcd))
    res = runner.invoke(app, [
        "rmsf", str(d / "seed0" / "traj.xtc"), str(dcd), "--top", str(top),
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


def test_rmsf_pairs_a_rollout_with_the_truth_by_time(refdata_dir, tmp_path):
    import json

    import mdtraj as md

    from neuralmd_core.io.writers import read_ligand_trajectory, write_trajectory

    d = refdata_dir / "t4l"
    top, truth = d / "seed0" / "topology.pdb", d / "seed0" / "traj.xtc"
    full = md.load(str(top))
    protein = full.atom_slice(full.topology.select("protein"))
    lig = read_ligand_trajectory(d / "seed1" / "traj.xtc", top)
    late, _ = write_trajectory(tmp_path / "late.xtc", protein.topology, protein.xyz[0] * 10,
                               lig.lig_z, lig.lig_names, "TMP", lig.lig_pos_A[79:99],
                               lig.time_ps[79:99], lig.bonds)  # fmt: skip
    res = runner.invoke(app, ["rmsf", str(truth), str(late), "--top", str(top), "--format",
                              "json", "--window", "10", "--stride", "10"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["results"]
    spans = [(r["label"], r["window_start_snapshot"], r["window_end_snapshot"]) for r in rows]
    assert spans == [
        (str(truth), 79, 88),
        (str(truth), 89, 98),
        (str(late), 0, 9),
        (str(late), 10, 19),
    ]  # the tail rule gave the truth 80..99
    assert rows[0]["time_ps"] == rows[2]["time_ps"] == 83.5
    said = res.stderr.splitlines()[-1]
    assert said.startswith("neuralmd: rmsf: windows paired by time: ")
    assert said.endswith(f"{truth}: frames 79..98 (79-98 ps); {late}: frames 0..19 (79-98 ps)")
