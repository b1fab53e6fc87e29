"""`neuralmd train` on what users feed it, and how it behaves while it works.

The table: every bad dataset, config, split file, run directory or option gives exit 2, one
stderr line naming the file or flag, no traceback and nothing written (``assert_rejected``).
Then: inputs are checked before torch/Lightning are imported; a run prints nothing of
Lightning's on stderr; the progress bar follows the terminal and ``-q``; files are 0644.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from badinput import assert_rejected, fill, run_cli, run_subprocess, snapshot

from neuralmd_core.data.prepare import prepare_from_md
from neuralmd_core.data.store import write_systems

TINY = "network: {hidden: 16, num_radial: 16, num_ligand_layers: 1, num_complex_layers: 1}\n"
FAST = TINY + "epochs: 1\ntrain_fraction: 0.5\nbatch_size: 8\n"


@pytest.fixture(scope="module")
def inp(t4l_seed0: Path, misato_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """A real 25-snapshot dataset, configs, and bad files made from the real inputs."""
    d = tmp_path_factory.mktemp("train_inputs")
    f = {"data": d / "t4l.h5", "nothing": d / "nothing.h5", "dir": d / "folder"}
    write_systems(f["data"], prepare_from_md(t4l_seed0 / "topology.pdb", [t4l_seed0 / "traj.xtc"],
                                             t4l_seed0 / "ligand.sdf", stride=4))  # fmt: skip
    write_systems(f["nothing"], [])
    f["dir"].mkdir()
    data = f["data"].read_bytes()
    files = {
        "empty.h5": b"", "garbage.h5": os.urandom(3000), "half.h5": data[: len(data) // 2],
        "xtc.h5": (t4l_seed0 / "traj.xtc").read_bytes(), "empty.yaml": b"",
        "pdb.yaml": (t4l_seed0 / "topology.pdb").read_bytes(),
        "xtc.yaml": (t4l_seed0 / "traj.xtc").read_bytes(), "fast.yaml": FAST.encode(),
        "list.yaml": b"- epochs\n- 3\n", "broken.yaml": b"epochs: [1, 2\n",
        "unknown.yaml": b"learning_rate: 0.1\n", "wrongtype.yaml": b"epochs: many\n",
        "range.yaml": b"lr: -1\n", "net.yaml": b"network: {hiden: 8}\n",
        "method.yaml": b"method: {adjoint: maybe}\n", "intkey.yaml": b"1: 2\n",
        "frac.yaml": b"train_fraction: 1.5\n", "empty.json": b"",
        "binary.json": os.urandom(200), "notjson.json": b"train: [a]\n",
        "wrong.json": json.dumps({"train": "t4l_seed0", "val": ["x"]}).encode(),
    }  # fmt: skip
    for name, content in files.items():
        f[name] = d / name
        f[name].write_bytes(content)
    f["misato"] = d / "misato.hdf5"
    shutil.copy(misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5", f["misato"])
    out = tmp_path_factory.mktemp("train_out")
    f["run"], f["afile"], f["busy"] = out / "run", out / "afile", out / "busy"
    f["afile"].write_text("not a directory")
    f["busy"].mkdir()
    (f["busy"] / "notes.txt").write_text("someone's files")
    return f


S = ["--model", "static"]  # no optimisation: the cases fail before any work anyway
# (case, train arguments (-o {run} unless given), what the line must name, words it must say)
CASES = [
    # the dataset: missing, empty, garbage, truncated, wrong kind
    ("missing dataset", ["{dir}/none.h5"], ["none.h5"], ["not found"]),
    ("dataset is a directory", ["{dir}"], ["{dir}"], ["directory"]),
    ("empty dataset", ["{empty.h5}"], ["{empty.h5}"], ["empty"]),
    ("garbage dataset", ["{garbage.h5}"], ["{garbage.h5}"], ["not an HDF5 file"]),
    ("truncated dataset", ["{half.h5}"], ["{half.h5}"], ["truncated"]),
    ("xtc as dataset", ["{xtc.h5}"], ["{xtc.h5}"], ["not an HDF5 file"]),
    ("misato file as dataset", ["{misato}"], ["{misato}"], ["not a neuralmd prepared dataset"]),
    ("dataset without trajectories", ["{nothing}"], ["{nothing}"], ["no trajectories"]),
    # the config file
    ("missing config", ["{data}", "-c", "{dir}/none.yaml"], ["none.yaml"], ["not found"]),
    ("empty config", ["{data}", "-c", "{empty.yaml}"], ["{empty.yaml}"], ["empty"]),
    ("config is a directory", ["{data}", "-c", "{dir}"], ["{dir}"], ["directory"]),
    ("pdb as config", ["{data}", "-c", "{pdb.yaml}"], ["{pdb.yaml}"], []),
    ("xtc as config", ["{data}", "-c", "{xtc.yaml}"], ["{xtc.yaml}"], ["binary"]),
    ("yaml list", ["{data}", "-c", "{list.yaml}"], ["{list.yaml}"], ["mapping"]),
    ("broken yaml", ["{data}", "-c", "{broken.yaml}"], ["{broken.yaml}"], ["YAML"]),
    ("unknown key", ["{data}", "-c", "{unknown.yaml}"], ["{unknown.yaml}"], ["learning_rate"]),
    ("wrong type", ["{data}", "-c", "{wrongtype.yaml}"], ["{wrongtype.yaml}"], ["epochs"]),
    ("out of range", ["{data}", "-c", "{range.yaml}"], ["{range.yaml}"], ["lr", "greater"]),
    ("fraction out of range", ["{data}", "-c", "{frac.yaml}"], ["{frac.yaml}"], ["train_fraction"]),
    ("network unknown key", ["{data}", "-c", "{net.yaml}"], ["{net.yaml}"], ["network.hiden"]),
    ("method wrong type", ["{data}", "-m", "neuralmd-ode", "-c", "{method.yaml}"],
     ["{method.yaml}"], ["method.adjoint"]),
    ("non-string key", ["{data}", "-c", "{intkey.yaml}"], ["{intkey.yaml}"], ["keys"]),
    # out-of-range options: the flag is named
    ("epochs -1", ["{data}", "--epochs", "-1"], ["--epochs"], ["greater than or equal to 0"]),
    ("batch size 0", ["{data}", "--batch-size", "0"], ["--batch-size"], ["1"]),
    ("lr negative", ["{data}", "--lr", "-1"], ["--lr"], ["greater than 0"]),
    ("lr nan", ["{data}", "--lr", "nan"], ["--lr"], []),
    ("lr inf", ["{data}", "--lr", "inf"], ["--lr"], ["finite"]),
    ("seed negative", ["{data}", "--seed", "-1"], ["--seed"], []),
    ("eval every 0", ["{data}", "--eval-every", "0"], ["--eval-every"], []),
    ("horizon 0", ["{data}", "--horizon", "0"], ["--horizon"], []),
    ("devices 0", ["{data}", "--devices", "0"], ["--devices"], []),
    ("num nodes 0", ["{data}", "--num-nodes", "0"], ["--num-nodes"], []),
    ("device tpu", ["{data}", "--device", "tpu"], ["--device"], ["tpu"]),
    ("unknown task", ["{data}", "--task", "both"], ["--task"], ["both"]),
    ("unknown loss", ["{data}", "--loss", "l3"], ["--loss"], ["l3"]),
    ("unknown method", ["{data}", "--model", "transformer-md"], ["--model"], ["unknown method"]),
    ("adjoint not taken", ["{data}", "--model", "gnn-md", "--adjoint"], ["--adjoint"],
     ["method.adjoint"]),
    ("unknown trajectory", ["{data}", *S, "--trajectory", "nope"], ["{data}"], ["'nope'"]),
    # the split file (multi task)
    ("missing split file", ["{data}", "--task", "multi", "--split-file", "{dir}/s.json"],
     ["s.json"], ["not found"]),
    ("empty split file", ["{data}", "--task", "multi", "--split-file", "{empty.json}"],
     ["{empty.json}"], ["empty"]),
    ("binary split file", ["{data}", *S, "--task", "multi", "--split-file", "{binary.json}"],
     ["{binary.json}"], []),
    ("yaml split file", ["{data}", *S, "--task", "multi", "--split-file", "{notjson.json}"],
     ["{notjson.json}"], ["JSON"]),
    ("split names not a list", ["{data}", *S, "--task", "multi", "--split-file", "{wrong.json}"],
     ["{wrong.json}"], ["list"]),
    # the run directory
    ("run dir is a file", ["{data}", "-o", "{afile}"], ["{afile}"], ["file"]),
    ("run dir not empty", ["{data}", "-o", "{busy}"], ["{busy}"], ["not empty", "--force"]),
    ("resume nothing", ["{data}", "-o", "{busy}", "--resume"], ["{busy}"], ["last.pt"]),
    ("resume and force", ["{data}", "-o", "{busy}", "--resume", "--force"], ["--resume"],
     ["--force"]),
    ("run dir is the dataset", ["{data}", "-o", "{data}"], ["{data}"], []),
]  # fmt: skip


@pytest.mark.parametrize("case,args,names,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(inp, case, args, names, words):
    if "-o" not in args:
        args = [*args, "-o", "{run}"]
    watched = [inp["data"].parent, inp["run"].parent]
    before = snapshot(watched)
    outcome = run_cli(["train", *fill(args, inp)])
    assert_rejected(outcome, fill(names, inp), before, snapshot(watched), words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_machine_is_refused_before_writing(inp):
    before = snapshot([inp["run"].parent])
    outcome = run_cli(["train", inp["data"], *S, "--device", "cuda", "-o", inp["run"]])
    assert_rejected(outcome, ["--device"], before, snapshot([inp["run"].parent]), ["cuda"])


CHECK_IMPORTS = """
import json, sys
from typer.testing import CliRunner
from neuralmd_cli.app import app
result = CliRunner().invoke(app, ["train", *sys.argv[1:]])
print(json.dumps([result.exit_code, "lightning" in sys.modules, "torch" in sys.modules]))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["{dir}/none.h5", "-o", "{run}"],
        ["{garbage.h5}", "-o", "{run}"],
        ["{data}", "-c", "{unknown.yaml}", "-o", "{run}"],
        ["{data}", "--lr", "-1", "-o", "{run}"],
        ["{data}", "-o", "{busy}"],
    ],
    ids=["missing dataset", "garbage dataset", "config key", "option range", "busy run dir"],
)
def test_inputs_are_checked_before_heavy_imports(inp, args):
    """A fresh process refuses these without importing torch or Lightning (seconds saved)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, *fill(args, inp)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    exit_code, lightning, torch_loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert exit_code == 2 and not lightning and not torch_loaded


def test_a_run_prints_nothing_of_lightning_and_writes_0644(inp, tmp_path):
    """A real process (fresh warnings registry): stderr stays empty; train.log keeps the log."""
    run = tmp_path / "run"
    old = os.umask(0o022)
    try:
        outcome = run_subprocess(["train", inp["data"], "--model", "gnn-md", "-c",
                                  inp["fast.yaml"], "-o", run])  # fmt: skip
    finally:
        os.umask(old)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr == "", outcome.stderr  # no tips, banners, warnings, epoch lines
    (line,) = outcome.stdout.strip().splitlines()
    assert json.loads(line)["epochs"] == 1
    log = (run / "train.log").read_text()
    assert "epoch 1: train_loss" in log and "GPU available" in log  # kept, but in the log only
    files = [p for p in run.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == [
        "best.pt", "config.yaml", "last.pt", "metrics.csv", "splits.json", "train.log",
    ]  # fmt: skip
    for p in files:
        if p.name != "train.log":  # the log is opened by logging, the rest written atomically
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_progress_bar_follows_the_terminal_and_quiet(inp, tmp_path, monkeypatch):
    base = ["train", inp["data"], "--model", "gnn-md", "-c", inp["fast.yaml"]]
    monkeypatch.setenv("NEURALMD_PROGRESS", "1")  # as on a terminal
    shown = run_cli([*base, "-o", tmp_path / "a"])
    quiet = run_cli([*base, "-o", tmp_path / "b", "-q"])
    assert shown.exit_code == 0 and quiet.exit_code == 0, (shown.stderr, quiet.stderr)
    assert "epoch 1/1" in shown.stderr and "batch" in shown.stderr
    assert quiet.stderr == ""
    assert json.loads(shown.stdout)["val_mae_A"] == json.loads(quiet.stdout)["val_mae_A"]
    # the checkpoint just trained, scored on its dataset: a bar over the rollouts, none with -q
    ckpt = str(tmp_path / "a" / "checkpoints" / "best.pt")
    scored = run_cli(["evaluate", "--model", ckpt, "--data", inp["data"], "--format", "json"])
    assert scored.exit_code == 0, scored.stderr
    assert "evaluate" in scored.stderr and "/3 " in scored.stderr  # gnn-md, static, mean-pose
    monkeypatch.delenv("NEURALMD_PROGRESS")  # stderr is no terminal here: no bar
    plain = run_cli(["evaluate", "--model", ckpt, "--data", inp["data"], "--format", "json"])
    assert plain.exit_code == 0 and plain.stderr == "", plain.stderr
    assert json.loads(plain.stdout)["results"] == json.loads(scored.stdout)["results"]
