"""`neuralmd rmsf` on bad input: one line on stderr, exit 2, nothing written, inputs untouched.

The trajectory cases cover every extension rmsf reads (.xtc .dcd .trr .nc .h5 .pdb): missing,
empty, garbage, truncated and renamed files. Cases where a C library (xdrfile, the DCD plugin,
HDF5) is involved run in a child process, so its output on the real file descriptors is seen.
"""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from badinput import assert_rejected, run_cli, run_subprocess, snapshot

EXTS = (".xtc", ".dcd", ".trr", ".nc", ".h5", ".pdb")


def make_bad_files(bad: Path, traj: Path, top: Path) -> None:
    """Empty, garbage, truncated and renamed trajectories (20 real frames) in ``bad``."""
    t = md.load(str(traj), top=str(top))[:20]
    rng = np.random.default_rng(0)
    for ext in EXTS:
        (bad / f"empty{ext}").write_bytes(b"")
        (bad / f"garbage{ext}").write_bytes(rng.bytes(5000))
        full = bad / f"full{ext}"
        t.save(str(full))
        data = full.read_bytes()
        (bad / f"truncated{ext}").write_bytes(data[: len(data) // 2 + 777])  # mid-frame
        full.unlink()
    t.save_dcd(str(bad / "dcd_as.xtc"))
    (bad / "xtc_as.dcd").write_bytes(traj.read_bytes())
    (bad / "lonely.xtc").write_bytes(traj.read_bytes())  # no lonely.pdb beside it
    (bad / "folder.xtc").mkdir()
    lines = top.read_text().splitlines(keepends=True)
    (bad / "half_top.pdb").write_text("".join(lines[: len(lines) // 2]))  # fewer atoms
    text = top.read_text()
    (bad / "cut_top.pdb").write_text(text[: len(text) // 2 + 7])  # cut inside a line
    (bad / "words.pdb").write_text("this is not a structure\n")


@pytest.fixture(scope="module")
def env(tmp_path_factory, refdata_dir):
    t4l = refdata_dir / "t4l" / "seed0"
    bad = tmp_path_factory.mktemp("bad")
    make_bad_files(bad, t4l / "traj.xtc", t4l / "topology.pdb")
    out = tmp_path_factory.mktemp("out")
    (out / "exists.csv").write_text("old\n")
    (out / "exists.png").write_bytes(b"old")
    (out / "adir.png").mkdir()
    fill = {"traj": t4l / "traj.xtc", "top": t4l / "topology.pdb", "bad": bad, "out": out,
            "gtop": refdata_dir / "11gs" / "seed0" / "topology.pdb"}  # fmt: skip
    return fill, [bad, out, t4l]


T = ["{traj}", "--top", "{top}"]  # a good call, extended or altered by the cases
#: (id, runner, args, names in the line, words in the line)
CASES = [
    # trajectories
    ("missing", "cli", ["{bad}/none.xtc", "--top", "{top}"], ["none.xtc"], ["not found"]),
    ("directory", "cli", ["{bad}/folder.xtc", "--top", "{top}"], ["folder.xtc"], ["directory"]),
    *[(f"empty{e}", "cli", [f"{{bad}}/empty{e}", "--top", "{top}"], [f"empty{e}"], ["empty"])
      for e in EXTS],
    *[(f"garbage{e}", "sub" if e in (".dcd", ".h5") else "cli",
       [f"{{bad}}/garbage{e}", "--top", "{top}"], [f"garbage{e}"], ["not a", "file"])
      for e in EXTS],
    *[(f"truncated{e}", "sub" if e in (".xtc", ".dcd", ".trr", ".h5") else "cli",
       [f"{{bad}}/truncated{e}", "--top", "{top}"], [f"truncated{e}"], ["truncated"])
      for e in EXTS],
    ("xtc-renamed-dcd", "sub", ["{bad}/xtc_as.dcd", "--top", "{top}"], ["xtc_as.dcd"],
     ["not a DCD file", "looks like XTC"]),
    ("dcd-renamed-xtc", "sub", ["{bad}/dcd_as.xtc", "--top", "{top}"], ["dcd_as.xtc"],
     ["not an XTC file", "looks like DCD"]),
    ("no-topology", "cli", ["{bad}/lonely.xtc"], ["lonely.xtc"],
     ["has no topology", "--top", "lonely.pdb"]),
    # topologies
    ("top-missing", "cli", ["{traj}", "--top", "{bad}/none.pdb"], ["none.pdb"], ["not found"]),
    ("top-empty", "cli", ["{traj}", "--top", "{bad}/empty.pdb"], ["empty.pdb"], ["empty"]),
    ("top-garbage", "cli", ["{traj}", "--top", "{bad}/garbage.pdb"], ["garbage.pdb"],
     ["not a PDB file"]),
    ("top-words", "cli", ["{traj}", "--top", "{bad}/words.pdb"], ["words.pdb"],
     ["not a PDB file"]),
    ("top-is-xtc", "cli", ["{traj}", "--top", "{traj}"], ["traj.xtc"], ["has no topology"]),
    ("top-truncated", "cli", ["{traj}", "--top", "{bad}/half_top.pdb"], ["traj.xtc"],
     ["atoms", "topology"]),
    ("top-cut", "cli", ["{traj}", "--top", "{bad}/cut_top.pdb"], ["cut_top.pdb"],
     ["truncated or corrupt PDB file"]),
    ("top-other-system", "cli", ["{traj}", "--top", "{gtop}"], ["traj.xtc"], ["atoms"]),
    ("top-count", "cli", ["{traj}", "{traj}", "{traj}", "--top", "{top}", "--top", "{top}"],
     ["--top"], ["2 topologies for 3"]),
    # options
    ("window-0", "cli", [*T, "--window", "0"], ["--window"], ["at least 2"]),
    ("window-1", "cli", [*T, "--window", "1"], ["--window"], ["at least 2"]),
    ("window-too-long", "cli", [*T, "--window", "200"], ["traj.xtc"], ["no window"]),
    ("stride-0", "cli", [*T, "--stride", "0"], ["--stride"], ["at least 1"]),
    ("start-negative", "cli", [*T, "--start", "-1"], ["--start"], ["at least 0"]),
    ("start-past-end", "cli", [*T, "--start", "99"], ["traj.xtc"], ["no window"]),
    ("format", "cli", [*T, "--format", "xml"], ["--format"], ["unknown format"]),
    ("labels", "cli", [*T, "--labels", "a,b"], ["--labels"], ["2 labels for 1"]),
    ("resname", "cli", [*T, "--ligand-resname", "XYZ"], ["XYZ"], ["no residue"]),
    # outputs
    ("csv-exists", "cli", [*T, "--csv", "{out}/exists.csv"], ["exists.csv"],
     ["already exists", "--force"]),
    ("plot-exists", "cli", [*T, "--plot", "{out}/exists.png"], ["exists.png"],
     ["already exists", "--force"]),
    ("plot-directory", "cli", [*T, "--plot", "{out}/adir.png"], ["adir.png"], ["directory"]),
    ("plot-bare-directory", "cli", [*T, "--plot", "{out}"], ["out"], ["is a directory"]),
    ("plot-extension", "cli", [*T, "--plot", "{out}/r.bmp"], ["r.bmp"], ["unknown extension"]),
    ("csv-no-folder", "cli", [*T, "--csv", "{out}/nodir/r.csv"], ["r.csv"],
     ["folder does not exist"]),
    ("plot-no-folder", "cli", [*T, "--plot", "{out}/nodir/r.png"], ["r.png"],
     ["folder does not exist"]),
    ("same-file", "cli", [*T, "--csv", "{out}/r.png", "--plot", "{out}/r.png"], ["r.png"],
     ["same file"]),
]  # fmt: skip


@pytest.mark.parametrize("case, runner, args, names, words", CASES, ids=[c[0] for c in CASES])
def test_rmsf_rejects(env, case, runner, args, names, words):
    fill, watched = env
    argv = ["rmsf", *[a.format(**fill) for a in args]]
    before = snapshot(watched)
    outcome = run_subprocess(argv) if runner == "sub" else run_cli(argv)
    assert_rejected(outcome, names, before, snapshot(watched), words)


def test_force_overwrites_and_outputs_take_the_umask(env, tmp_path):
    fill, _ = env
    csv, plot = tmp_path / "r.csv", tmp_path / "r.jpg"
    csv.write_text("old\n")
    plot.write_bytes(b"old")
    outcome = run_cli(["rmsf", fill["traj"], "--top", fill["top"], "--start", "90", "--csv", csv,
                       "--plot", plot, "--force", "-q"])  # fmt: skip
    assert outcome.exit_code == 0 and outcome.stderr == "", outcome.stderr
    assert csv.read_text().startswith("label,") and plot.read_bytes()[:3] == b"\xff\xd8\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.jpg"]
