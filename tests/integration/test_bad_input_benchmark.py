"""`neuralmd benchmark` on what users feed it, and labels that tell checkpoints apart.

The table: bad checkpoints (random ``.pt`` files say "not a neuralmd checkpoint", relabelled
weights one line), bad structure files, bad OpenMM files and out-of-range options give exit 2
and one stderr line naming the file or option (``assert_rejected``). Then: two ``best.pt``
from different runs get different labels, and tables never print Python's ``None``.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from badinput import assert_rejected, fill, run_cli, snapshot

from neuralmd_core.evaluation.benchmark import model_labels

try:
    import openmm
except ImportError:  # the optional extra
    openmm = None

needs_openmm = pytest.mark.skipif(openmm is None, reason="OpenMM not installed")
FAST = ["--snapshots", "2", "--repeats", "1", "--batch", "1", "--device", "cpu",
        "--ensemble-snapshots", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def inp(t4l_seed0: Path, tmp_path_factory, make_ckpt) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bench_inputs")
    f: dict[str, Path] = {"dir": d / "folder"}
    f["dir"].mkdir()
    for name in ("topology.pdb", "ligand.sdf", "openmm_system.xml", "openmm_integrator.xml",
                 "openmm_state.xml", "traj.xtc"):  # fmt: skip
        f[name] = d / name
        shutil.copy(t4l_seed0 / name, f[name])
    for name in ("traj.xtc", "topology.pdb"):  # another complex: a ligand of 39 heavy atoms
        f["11gs_" + name] = d / ("11gs_" + name)
        shutil.copy(t4l_seed0.parents[1] / "11gs" / "seed0" / name, f["11gs_" + name])
    lines = (t4l_seed0 / "topology.pdb").read_text().splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if ln.startswith("HETATM") and " TMP " in ln)
    lines[first] = lines[first][:76] + " N" + lines[first][78:]  # its first carbon made nitrogen
    f["n_topology.pdb"] = d / "n_topology.pdb"
    f["n_topology.pdb"].write_text("".join(lines))
    ckpt = f["ode.pt"] = make_ckpt(d / "ode.pt")
    raw = torch.load(ckpt, weights_only=True)
    for name, content in {
        "empty.pt": b"", "garbage.pt": os.urandom(3000), "pickle.pt": pickle.dumps([1, 2]),
        "half.pt": ckpt.read_bytes()[: ckpt.stat().st_size // 2], "empty.pdb": b"",
        "garbage.pdb": os.urandom(3000), "empty.sdf": b"", "garbage.sdf": os.urandom(2000),
        "empty.xml": b"", "garbage.xml": b"<System><oops", "binary.xml": os.urandom(500),
    }.items():  # fmt: skip
        f[name] = d / name
        f[name].write_bytes(content)
    torch.save({"a": 1}, d / "foreign.pt")
    torch.save(dict(raw, method="neuralmd-sde", config=dict(raw["config"], model="neuralmd-sde")),
               d / "relabelled.pt")  # fmt: skip
    f["foreign.pt"], f["relabelled.pt"] = d / "foreign.pt", d / "relabelled.pt"
    if openmm is not None:
        tiny = openmm.System()
        tiny.addParticle(1.0)
        f["tiny_system.xml"] = d / "tiny_system.xml"
        f["tiny_system.xml"].write_text(openmm.XmlSerializer.serialize(tiny))
    return f


IN = ["{topology.pdb}", "{ligand.sdf}"]
M = ["--model", "{ode.pt}"]
OMM = ["--openmm-system", "{openmm_system.xml}", "--openmm-integrator",
       "{openmm_integrator.xml}", "--openmm-state", "{openmm_state.xml}"]  # fmt: skip


def _omm(slot: int, name: str) -> list[str]:
    args = list(OMM)
    args[2 * slot + 1] = "{" + name + "}"
    return args


# (case, benchmark arguments, what the line must name, words it must say)
CASES = [
    ("missing checkpoint", [*IN, "--model", "{dir}/none.pt"], ["none.pt"], ["not found"]),
    ("checkpoint is a dir", [*IN, "--model", "{dir}"], ["{dir}"], ["directory"]),
    ("empty checkpoint", [*IN, "--model", "{empty.pt}"], ["{empty.pt}"], ["not a neuralmd"]),
    ("garbage checkpoint", [*IN, "--model", "{garbage.pt}"], ["{garbage.pt}"],
     ["not a neuralmd checkpoint"]),
    ("truncated checkpoint", [*IN, "--model", "{half.pt}"], ["{half.pt}"], ["truncated"]),
    ("plain pickle", [*IN, "--model", "{pickle.pt}"], ["{pickle.pt}"], ["not a neuralmd"]),
    ("foreign torch file", [*IN, "--model", "{foreign.pt}"], ["{foreign.pt}"],
     ["not a neuralmd checkpoint"]),
    ("xtc as checkpoint", [*IN, "--model", "{traj.xtc}"], ["{traj.xtc}"], ["not a neuralmd"]),
    ("relabelled weights", [*IN, "--model", "{relabelled.pt}"], ["{relabelled.pt}"],
     ["weights do not match"]),
    ("second model bad", [*IN, *M, "--model", "{garbage.pt}"], ["{garbage.pt}"], []),
    ("missing pdb", ["{dir}/none.pdb", "{ligand.sdf}", *M], ["none.pdb"], ["not found"]),
    ("empty pdb", ["{empty.pdb}", "{ligand.sdf}", *M], ["{empty.pdb}"], ["empty"]),
    ("garbage pdb", ["{garbage.pdb}", "{ligand.sdf}", *M], ["{garbage.pdb}"], []),
    ("missing ligand", ["{topology.pdb}", "{dir}/none.sdf", *M], ["none.sdf"], ["not found"]),
    ("empty ligand", ["{topology.pdb}", "{empty.sdf}", *M], ["{empty.sdf}"], ["empty"]),
    ("garbage ligand", ["{topology.pdb}", "{garbage.sdf}", *M], ["{garbage.sdf}"], []),
    ("snapshots 0", [*IN, *M, "--snapshots", "0"], ["--snapshots"], ["at least 1"]),
    ("repeats 0", [*IN, *M, "--repeats", "0"], ["--repeats"], ["at least 1"]),
    ("batch 0", [*IN, *M, "--batch", "0"], ["--batch"], []),
    ("batch not a number", [*IN, *M, "--batch", "1,x"], ["--batch"], []),
    ("device tpu", [*IN, *M, "--device", "tpu"], ["--device"], ["tpu"]),
    ("device cuda:x", [*IN, *M, "--device", "cuda:x"], ["--device"], []),
    ("device cuda:99", [*IN, *M, "--device", "cuda:99"], ["--device"], ["cuda:99"]),
    ("openmm ps 0", [*IN, *M, "--openmm-ps", "0"], ["--openmm-ps"], ["positive"]),
    ("format xml", [*IN, *M, "--format", "xml"], ["--format"], ["xml"]),
    ("threads 0", [*IN, *M, "--threads", "0"], ["--threads"], ["at least 1"]),
    ("threads not a number", [*IN, *M, "--threads", "two"], ["--threads"], []),
    ("compile maybe", [*IN, *M, "--compile", "maybe"], ["--compile"], ["maybe"]),
    ("ensemble snapshots -1", [*IN, *M, "--ensemble-snapshots", "-1"], ["--ensemble-snapshots"],
     []),
    ("ensemble top alone", [*IN, *M, "--ensemble-ref-top", "{topology.pdb}"],
     ["--ensemble-ref-top"], ["--ensemble-ref"]),
    ("ensemble ref missing", [*IN, *M, "--ensemble-ref", "{dir}/none.xtc", "--ensemble-ref-top",
     "{topology.pdb}"], ["none.xtc"], ["not found"]),
    ("ensemble top missing", [*IN, *M, "--ensemble-ref", "{traj.xtc}", "--ensemble-ref-top",
     "{dir}/none.pdb"], ["none.pdb"], ["not found"]),
    ("ensemble ref other ligand", [*IN, *M, "--ensemble-ref", "{11gs_traj.xtc}",
     "--ensemble-ref-top", "{11gs_topology.pdb}"], ["{11gs_traj.xtc}"], ["39 heavy atoms"]),
    ("ensemble ref other element", [*IN, *M, "--ensemble-ref", "{traj.xtc}",
     "--ensemble-ref-top", "{n_topology.pdb}"], ["{traj.xtc}"], ["element sequence"]),
    ("second ensemble ref bad", [*IN, *M, "--ensemble-ref", "{traj.xtc}", "--ensemble-ref",
     "{11gs_traj.xtc}", "--ensemble-ref-top", "{topology.pdb}"], ["{11gs_traj.xtc}"], []),
    ("openmm one file", [*IN, *M, *OMM[:2]], ["--openmm"], ["together"]),
    ("openmm missing", [*IN, *M, *OMM[:4], "--openmm-state", "{dir}/s.xml"], ["s.xml"],
     ["not found"]),
    ("openmm empty", [*IN, *M, *_omm(2, "empty.xml")], ["{empty.xml}"], ["empty"]),
    pytest.param("openmm garbage", [*IN, *M, *_omm(1, "garbage.xml")], ["{garbage.xml}"],
                 ["Integrator"], marks=needs_openmm),
    pytest.param("openmm binary", [*IN, *M, *_omm(0, "binary.xml")], ["{binary.xml}"],
                 ["System"], marks=needs_openmm),
    pytest.param("openmm wrong kind", [*IN, *M, *_omm(1, "openmm_system.xml")],
                 ["openmm_system.xml"], ["expected an OpenMM Integrator"], marks=needs_openmm),
    pytest.param("openmm other system", [*IN, *M, *_omm(0, "tiny_system.xml")],
                 ["openmm_state.xml"], ["positions"], marks=needs_openmm),
]  # fmt: skip


def _id(case) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("case,args,names,words", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_one_line_exit_2(inp, case, args, names, words):
    if case == "device cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("this machine has 100 GPUs")
    before = snapshot([inp["dir"].parent])
    # the case's own options come last, so they win over the fast defaults
    outcome = run_cli(["benchmark", *FAST, "--format", "json", *fill(args, inp)])
    assert_rejected(outcome, fill(names, inp), before, snapshot([inp["dir"].parent]), words)
    assert "unsafe pickle" not in outcome.stderr


def test_labels_tell_same_named_checkpoints_apart(inp, tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        shutil.copy(inp["ode.pt"], tmp_path / run / "best.pt")
    a, b = tmp_path / "a" / "best.pt", tmp_path / "b" / "best.pt"
    r = run_cli(["benchmark", *fill(IN, inp), "--model", a, "--model", b, *FAST,
                 "--format", "json"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert [rec["model"] for rec in json.loads(r.stdout)["results"]] == ["a/best.pt", "b/best.pt"]
    table = run_cli(["benchmark", *fill(IN, inp), "--model", a, "--model", b, *FAST])
    assert table.exit_code == 0, table.stderr
    rows = table.stdout.strip().splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["a/best.pt", "b/best.pt"]
    assert "None" not in table.stdout


def test_model_labels_shortest_distinguishing_suffix():
    assert model_labels(["x/run1/best.pt", "x/run2/best.pt"]) == ["run1/best.pt", "run2/best.pt"]
    assert model_labels(["a/ode.pt", "b/sde.pt"]) == ["ode.pt", "sde.pt"]
    assert model_labels(["r/a/best.pt", "s/a/best.pt"]) == ["r/a/best.pt", "s/a/best.pt"]
    assert model_labels(["best.pt", "run/best.pt"]) == ["best.pt", "run/best.pt"]
    assert model_labels(["m.pt", "m.pt"]) == ["m.pt", "m.pt#2"]
