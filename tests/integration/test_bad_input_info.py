"""`neuralmd info` on what users feed it: every bad dataset or checkpoint is one clear line.

Covers issue 12 for ``info`` (datasets and checkpoints): missing, empty, garbage, truncated and
wrong-kind files, random ``.pt`` files ("not a neuralmd checkpoint", never "unsafe pickle"),
relabelled or resized weights (one line, no pydantic/state-dict dump), and tables without
Python's ``None``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from badinput import assert_rejected, fill, run_cli, snapshot

from neuralmd_core.data.prepare import prepare_from_md
from neuralmd_core.data.store import write_systems


@pytest.fixture(scope="module")
def files(t4l_seed0: Path, misato_dir: Path, tmp_path_factory, make_ckpt) -> dict[str, Path]:
    """Real inputs (a tiny dataset, a tiny checkpoint) and bad files made from them."""
    d = tmp_path_factory.mktemp("info_inputs")
    ds = d / "t4l.h5"
    write_systems(ds, prepare_from_md(t4l_seed0 / "topology.pdb", [t4l_seed0 / "traj.xtc"],
                                      t4l_seed0 / "ligand.sdf", stride=10))  # fmt: skip
    ckpt = make_ckpt(d / "ode.pt")
    f = {"dataset": ds, "ckpt": ckpt, "dir": d / "folder", "xtc": d / "traj.xtc"}
    f["dir"].mkdir()
    shutil.copy(t4l_seed0 / "traj.xtc", f["xtc"])
    shutil.copy(misato_dir / "fixtures" / "11GS_md_layout_1frame.hdf5", d / "misato.hdf5")
    f["misato"] = d / "misato.hdf5"
    for name, data in {
        "empty.h5": b"",
        "garbage.h5": os.urandom(3000),
        "half.h5": ds.read_bytes()[: ds.stat().st_size // 2],
        "empty.pt": b"",
        "garbage.pt": os.urandom(3000),
        "half.pt": ckpt.read_bytes()[: ckpt.stat().st_size // 2],
        "pickle.pt": pickle.dumps({"weights": [1, 2, 3]}),
        "xtc.pt": (t4l_seed0 / "traj.xtc").read_bytes(),
        "text.pt": b"hello, I am not a checkpoint\n",
    }.items():
        (d / name).write_bytes(data)
        f[name] = d / name
    torch.save({"a": 1}, d / "foreign.pt")
    torch.save(torch.zeros(3), d / "tensor.pt")
    with zipfile.ZipFile(d / "zip.pt", "w") as zf:
        zf.writestr("readme.txt", "not torch")
    raw = torch.load(ckpt, weights_only=True)
    relabel = dict(raw, method="neuralmd-sde", config=dict(raw["config"], model="neuralmd-sde"))
    torch.save(relabel, d / "relabelled.pt")
    resized = dict(raw, model_options=dict(raw["model_options"], hidden=32))
    resized["config"] = dict(raw["config"], network=resized["model_options"])
    torch.save(resized, d / "resized.pt")
    torch.save(dict(raw, config=dict(raw["config"], model="gnn-md")), d / "config_says_other.pt")
    for name in ("foreign.pt", "tensor.pt", "zip.pt", "relabelled.pt", "resized.pt",
                 "config_says_other.pt"):  # fmt: skip
        f[name] = d / name
    return f


# (case, args with {key} placeholders, what the line must name, words it must say)
CASES = [
    ("missing dataset", ["{dir}/none.h5"], ["none.h5"], ["not found"]),
    ("directory", ["{dir}"], ["{dir}"], ["directory"]),
    ("empty dataset", ["{empty.h5}"], ["{empty.h5}"], ["empty"]),
    ("garbage dataset", ["{garbage.h5}"], ["{garbage.h5}"], ["not an HDF5 file"]),
    ("truncated dataset", ["{half.h5}"], ["{half.h5}"], ["truncated"]),
    ("xtc as dataset", ["{xtc}"], ["{xtc}"], ["not an HDF5 file"]),
    ("other HDF5", ["{misato}"], ["{misato}"], ["not a neuralmd prepared dataset"]),
    ("bad format", ["{dataset}", "--format", "xml"], ["--format"], ["xml"]),
    ("missing checkpoint", ["{dir}/none.pt"], ["none.pt"], ["not found"]),
    ("empty checkpoint", ["{empty.pt}"], ["{empty.pt}"], ["not a neuralmd checkpoint", "empty"]),
    ("garbage checkpoint", ["{garbage.pt}"], ["{garbage.pt}"], ["not a neuralmd checkpoint"]),
    ("truncated ckpt", ["{half.pt}"], ["{half.pt}"], ["not a neuralmd checkpoint", "truncated"]),
    ("plain pickle", ["{pickle.pt}"], ["{pickle.pt}"], ["not a neuralmd checkpoint", "torch"]),
    ("xtc as checkpoint", ["{xtc.pt}"], ["{xtc.pt}"], ["not a neuralmd checkpoint"]),
    ("text checkpoint", ["{text.pt}"], ["{text.pt}"], ["not a neuralmd checkpoint"]),
    ("foreign torch dict", ["{foreign.pt}"], ["{foreign.pt}"], ["not a neuralmd checkpoint",
                                                                "no neuralmd metadata"]),
    ("torch tensor", ["{tensor.pt}"], ["{tensor.pt}"], ["not a neuralmd checkpoint"]),
    ("zip archive", ["{zip.pt}"], ["{zip.pt}"], ["not a neuralmd checkpoint"]),
    ("relabelled method", ["{relabelled.pt}"], ["{relabelled.pt}"], ["weights do not match",
                                                                     "neuralmd-sde"]),
    ("resized network", ["{resized.pt}"], ["{resized.pt}"], ["weights do not match"]),
    ("config says other", ["{config_says_other.pt}"], ["{config_says_other.pt}"],
     ["weights do not match", "gnn-md"]),
]  # fmt: skip


@pytest.mark.parametrize("case,args,names,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(files, case, args, names, words):
    folder = files["dataset"].parent
    before = snapshot([folder])
    outcome = run_cli(["info", *fill(args, files)])
    assert_rejected(outcome, fill(names, files), before, snapshot([folder]), words)
    assert "unsafe pickle" not in outcome.stderr and "pydantic" not in outcome.stderr


def test_pickled_object_is_refused_unexecuted(files, tmp_path):
    """A checkpoint carrying a pickled callable: one line, and the payload never runs."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    raw = torch.load(files["ckpt"], weights_only=True)
    evil = tmp_path / "evil.pt"
    torch.save(dict(raw, config=Payload()), evil)
    before = snapshot([tmp_path])
    outcome = run_cli(["info", evil])
    assert_rejected(outcome, [str(evil)], before, snapshot([tmp_path]),
                    ["not a neuralmd checkpoint", "nothing was executed"])  # fmt: skip
    assert not marker.exists()


def test_dataset_and_checkpoint_summaries(files, tmp_path):
    r = run_cli(["info", files["dataset"]])
    assert r.exit_code == 0, r.stderr
    assert "t4l_seed0" in r.stdout and "angstrom" in r.stdout and "None" not in r.stdout
    # a checkpoint without a validation result: "-" in the table, never Python's None
    raw = torch.load(files["ckpt"], weights_only=True)
    path = tmp_path / "unvalidated.pt"
    torch.save(dict(raw, best={"epoch": None, "val_mae_A": None}, task=None), path)
    r = run_cli(["info", path])
    assert r.exit_code == 0, r.stderr
    table = dict(line.split(None, 1) for line in r.stdout.splitlines()[2:])
    assert table["method"].strip() == "neuralmd-ode" and table["best_epoch"].strip() == "-"
    assert table["snapshot_interval_ps"].strip() == "2.0000" and "None" not in r.stdout
    r = run_cli(["info", path, "--format", "json"])
    assert r.exit_code == 0 and '"val_mae_A": null' in r.stdout


#: options whose help must state a unit or a range (issue 12: "--help lacks units")
UNITS = {
    "benchmark": {"snapshots": "ps", "openmm_ps": "ps", "repeats": ">= 1", "device": "cuda"},
    "prepare": {"dt_ps": "ps", "stride": ">= 1", "output": ".h5"},
    "train": {"lr": "> 0", "loss": "Å", "batch_size": "Global batch", "epochs": "0"},
    "info": {"path": ".pt"},
}


@pytest.mark.parametrize("command", ["train", "prepare", "benchmark", "info"])
def test_help_describes_every_option_as_written(command):
    """Every option has a help text, the rendered --help shows it whole (no text eaten as
    markup, as "[single 1, multi 32]" once was), and units are stated."""
    import re

    import typer
    from typer.testing import CliRunner

    from neuralmd_cli.app import app

    params = {p.name: p for p in typer.main.get_command(app).commands[command].params}
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    shown = re.sub(r"\s+", " ", result.stdout.replace("│", " "))
    for name, param in params.items():
        text = re.sub(r"\s+", " ", param.help or "").strip()
        assert text, f"{command} {name} has no help"
        assert text in shown, f"{command} {name}: {text!r} is not shown as written"
    for name, unit in UNITS[command].items():
        assert unit in params[name].help, (command, name)
    assert {"quiet", "verbose"} <= set(params)
