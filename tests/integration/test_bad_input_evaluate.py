"""`neuralmd evaluate` on bad input: one line on stderr, exit 2, nothing written, inputs untouched.

Also the behaviour the issue asked for on good input: frames paired by time (and said on stderr),
the named topology winning over a PDB lying next to the trajectory, several predictions with one
row each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from badinput import assert_rejected, run_cli, run_subprocess, snapshot

from neuralmd_core.io.writers import read_ligand_trajectory, write_trajectory


def _bad_files(bad: Path, traj: Path, top: Path) -> None:
    """Empty, garbage, truncated and renamed trajectories from the real T4L run."""
    rng = np.random.default_rng(1)
    (bad / "empty.xtc").write_bytes(b"")
    (bad / "garbage.xtc").write_bytes(rng.bytes(4000))
    (bad / "garbage.pdb").write_bytes(rng.bytes(4000))
    data = traj.read_bytes()
    (bad / "truncated.xtc").write_bytes(data[: len(data) // 2 + 777])
    (bad / "xtc_as.dcd").write_bytes(data)
    md.load(str(traj), top=str(top))[:10].save_dcd(str(bad / "dcd_as.nc"))


@pytest.fixture(scope="module")
def env(tmp_path_factory, refdata_dir):
    t4l = refdata_dir / "t4l"
    g = refdata_dir / "11gs" / "seed0"
    bad = tmp_path_factory.mktemp("bad")
    _bad_files(bad, t4l / "seed0" / "traj.xtc", t4l / "seed0" / "topology.pdb")
    out = tmp_path_factory.mktemp("out")
    (out / "exists.csv").write_text("old\n")
    (out / "exists.png").write_bytes(b"old")
    fill = {"pred": t4l / "seed1" / "traj.xtc", "ref": t4l / "seed0" / "traj.xtc",
            "top": t4l / "seed0" / "topology.pdb", "bad": bad, "out": out,
            "gtraj": g / "traj.xtc", "gtop": g / "topology.pdb"}  # fmt: skip
    return fill, [bad, out, t4l / "seed0", t4l / "seed1"]


G = ["{pred}", "--ref", "{ref}", "--top", "{top}"]  # a good call, extended by the cases
R = ["--ref", "{ref}", "--top", "{top}"]
#: (id, runner, args, names in the line, words in the line)
CASES = [
    # predicted trajectory
    ("pred-missing", "cli", ["{bad}/none.xtc", *R], ["none.xtc"], ["not found"]),
    ("pred-empty", "cli", ["{bad}/empty.xtc", *R], ["empty.xtc"], ["empty"]),
    ("pred-garbage", "cli", ["{bad}/garbage.xtc", *R], ["garbage.xtc"], ["not an XTC file"]),
    ("pred-truncated", "sub", ["{bad}/truncated.xtc", *R], ["truncated.xtc"],
     ["truncated", "frames can be read"]),
    ("pred-renamed", "sub", ["{bad}/xtc_as.dcd", *R], ["xtc_as.dcd"], ["looks like XTC"]),
    ("pred-dcd-as-nc", "cli", ["{bad}/dcd_as.nc", *R], ["dcd_as.nc"],
     ["not a NetCDF file", "looks like DCD"]),
    ("pred-pdb-garbage", "cli", ["{bad}/garbage.pdb", *R], ["garbage.pdb"], ["not a PDB file"]),
    # reference trajectory and topologies
    ("ref-missing", "cli", ["{pred}", "--ref", "{bad}/none.xtc", "--top", "{top}"], ["none.xtc"],
     ["not found"]),
    ("ref-truncated", "sub", ["{pred}", "--ref", "{bad}/truncated.xtc", "--top", "{top}"],
     ["truncated.xtc"], ["truncated"]),
    ("top-garbage", "cli", ["{pred}", "--ref", "{ref}", "--top", "{bad}/garbage.pdb"],
     ["garbage.pdb"], ["not a PDB file"]),
    ("top-is-xtc", "cli", ["{pred}", "--ref", "{ref}", "--top", "{ref}"], ["traj.xtc"],
     ["has no topology"]),
    ("top-other-system", "cli", ["{pred}", "--ref", "{ref}", "--top", "{gtop}"], ["traj.xtc"],
     ["atoms"]),
    ("pred-top-empty", "cli", [*G, "--pred-top", "{bad}/empty.xtc"], ["empty.xtc"], ["empty"]),
    ("ref-other-ligand", "cli", ["{pred}", "--pred-top", "{top}", "--ref", "{gtraj}", "--top",
                                 "{gtop}"], ["traj.xtc"], ["differs from the reference ligand"]),
    # options
    ("metrics-unknown", "cli", [*G, "--metrics", "energy"], ["--metrics"], ["unknown metric"]),
    ("metrics-empty", "cli", [*G, "--metrics", ","], ["--metrics"], ["no metric"]),
    ("format", "cli", [*G, "--format", "xml"], ["--format"], ["unknown format"]),
    ("split", "cli", [*G, "--split", "holdout"], ["--split"], ["unknown split"]),
    ("start-negative", "cli", [*G, "--start", "-1"], ["--start"], [">= 0"]),
    ("start-no-fit", "cli", [*G, "--start", "90"], ["traj.xtc"], ["do not fit"]),
    ("threshold-zero", "cli", [*G, "--stability-threshold", "0"], ["--stability-threshold"],
     ["> 0"]),
    ("threshold-nan", "cli", [*G, "--stability-threshold", "nan"], ["--stability-threshold"],
     ["> 0"]),
    ("samples-zero", "cli", [*G, "--samples", "0"], ["--samples"], ["at least 1"]),
    ("snapshots-zero", "cli", [*G, "--snapshots", "0"], ["--snapshots"], ["at least 1"]),
    ("resname", "cli", [*G, "--ligand-resname", "XYZ"], ["XYZ"], ["no residue"]),
    ("no-ref", "cli", ["{pred}", "--top", "{top}"], ["--ref"], ["missing"]),
    ("no-pred", "cli", R, ["PRED"], ["missing"]),
    ("model-and-pred", "cli", [*G, "--model", "{bad}/m.pt"], ["--model"], ["no PRED"]),
    # outputs
    ("per-snapshot-exists", "cli", [*G, "--per-snapshot", "{out}/exists.csv"], ["exists.csv"],
     ["already exists", "--force"]),
    ("per-snapshot-no-folder", "cli", [*G, "--per-snapshot", "{out}/nodir/s.csv"], ["s.csv"],
     ["folder does not exist"]),
    ("plot-needs-realism", "cli", [*G, "--metrics", "mae", "--plot", "{out}/p.png"], ["--plot"],
     ["realism"]),
    ("plot-exists", "cli", [*G, "--metrics", "realism", "--plot", "{out}/exists.png"],
     ["exists.png"], ["already exists"]),
    ("plot-extension", "cli", [*G, "--metrics", "realism", "--plot", "{out}/p.bmp"], ["p.bmp"],
     ["unknown extension"]),
    ("plot-directory", "cli", [*G, "--metrics", "realism", "--plot", "{out}"], ["out"],
     ["is a directory"]),
]  # fmt: skip


@pytest.mark.parametrize("case, runner, args, names, words", CASES, ids=[c[0] for c in CASES])
def test_evaluate_rejects(env, case, runner, args, names, words):
    fill, watched = env
    argv = ["evaluate", *[a.format(**fill) for a in args]]
    before = snapshot(watched)
    outcome = run_subprocess(argv) if runner == "sub" else run_cli(argv)
    assert_rejected(outcome, names, before, snapshot(watched), words)


@pytest.fixture(scope="module")
def rollouts(tmp_path_factory, refdata_dir):
    """20 snapshots of T4L seed 1 written as rollouts: times from 79 ps, and from 0 ps."""
    d = refdata_dir / "t4l"
    full = md.load(str(d / "seed0" / "topology.pdb"))
    protein = full.atom_slice(full.topology.select("protein"))
    lig = read_ligand_trajectory(d / "seed1" / "traj.xtc", d / "seed0" / "topology.pdb")
    out = tmp_path_factory.mktemp("rollouts")
    paths = {}
    for name, first in (("late", 79), ("early", 0)):
        paths[name] = write_trajectory(
            out / f"{name}.xtc", protein.topology, protein.xyz[0] * 10, lig.lig_z, lig.lig_names,
            "TMP", lig.lig_pos_A[first : first + 20], lig.time_ps[first : first + 20], lig.bonds,
        )[0]  # fmt: skip
    return paths, lig


def _json(outcome):
    assert outcome.exit_code == 0, outcome.stderr
    return json.loads(outcome.stdout)


def test_frames_are_paired_by_time_and_said_on_stderr(env, rollouts):
    fill, _ = env
    paths, _ = rollouts
    ref, top = str(fill["ref"]), str(fill["top"])
    fast = ["--metrics", "mae"]
    late = run_cli(["evaluate", paths["late"], "--ref", ref, "--top", top, "--format", "json",
                    *fast])  # fmt: skip
    meta = _json(late)["meta"]
    assert meta["ref_frames"] == [79, 98]  # not the tail 80..99
    assert meta["pairing"]["rule"] == "time"
    assert late.stderr.splitlines()[-1].endswith(
        "predicted frames 0..19 paired with reference frames 79..98 by time (79-98 ps)"
    )
    early = _json(run_cli(["evaluate", paths["early"], "--ref", ref, "--top", top, "--format",
                           "json", *fast]))  # fmt: skip
    assert early["meta"]["ref_frames"] == [0, 19] and early["results"][0]["snapshots"] == 20
    # without times (a PDB trajectory), the tail rule, and stderr says why
    pdb = Path(str(paths["early"])).with_name("early_frames.pdb")
    md.load(str(paths["early"]), top=str(paths["early"].with_suffix(".pdb"))).save_pdb(str(pdb))
    wrong = run_cli(["evaluate", pdb, "--ref", ref, "--top", top, "--pred-top", top, *fast])
    assert "early_frames.pdb: trajectory has 1680 atoms but the topology has 1690" in wrong.stderr
    own = paths["early"].with_suffix(".pdb")
    tail = run_cli(["evaluate", pdb, "--pred-top", own, "--ref", ref, "--top", top, "--format",
                    "json", *fast])  # fmt: skip
    assert _json(tail)["meta"]["ref_frames"] == [80, 99]
    assert "by the tail rule; one of the files has no frame times" in tail.stderr
    quiet = run_cli(["evaluate", paths["early"], "--ref", ref, "--top", top, "-q", *fast])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_the_named_topology_wins_over_a_pdb_beside_the_trajectory(env, tmp_path):
    fill, _ = env
    pred = tmp_path / "pred.xtc"
    shutil.copyfile(fill["pred"], pred)
    decoy = md.load(str(fill["top"]))  # same atoms, the ligand moved 3 Å: a stale neighbour
    decoy.xyz[0, decoy.topology.select("resname TMP")] += 0.3
    decoy.save_pdb(str(tmp_path / "pred.pdb"))
    args = [pred, "--ref", fill["ref"], "--top", fill["top"], "--format", "json",
            "--metrics", "clashes"]  # fmt: skip
    meta = _json(run_cli(["evaluate", *args]))["meta"]
    assert meta["pred_top"] == str(fill["top"])  # the file named, not pred.pdb
    named = _json(run_cli(["evaluate", *args, "--pred-top", tmp_path / "pred.pdb"]))["meta"]
    assert named["pred_top"] == str(tmp_path / "pred.pdb")


def test_several_predictions_one_row_each_and_a_per_snapshot_csv(
    env, rollouts, tmp_path, monkeypatch
):
    fill, _ = env
    paths, _ = rollouts
    per = tmp_path / "snap.csv"
    per.write_text("old\n")
    monkeypatch.setenv("NEURALMD_PROGRESS", "1")  # as on a terminal: one bar step per PRED
    args = ["evaluate", paths["late"], paths["early"], "--ref", fill["ref"], "--top", fill["top"],
            "--format", "json", "--per-snapshot", per, "--metrics", "mae"]  # fmt: skip
    outcome = run_cli([*args, "--force"])
    payload = _json(outcome)
    assert "evaluate: 100%" in outcome.stderr and "2/2" in outcome.stderr
    assert [r["method"] for r in payload["results"]] == [str(paths["late"]), str(paths["early"])]
    assert payload["meta"]["ref_frames"] == [[79, 98], [0, 19]]
    lines = per.read_text().splitlines()
    assert len(lines) == 1 + 40 and lines[1].split(",")[2:4] == ["79", "79.0"]
    quiet = run_cli([*args, "--force", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""  # no bar, no warnings
