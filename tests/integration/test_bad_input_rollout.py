"""`neuralmd rollout` on bad input: one table of cases, each through the full contract.

Every case must exit 2 with one line on stderr naming the file or option and the problem, no
traceback, no new or changed file (the output folder stays absent or as it was) and the
inputs untouched (:func:`badinput.assert_rejected`). The inputs are copies of the real T4L
reference complex made bad in a temporary folder; the checkpoint is a tiny untrained model
(tests/integration/conftest.py). Cases where C libraries print (xdrfile, the DCD plugin) run
in a child process, so that their output on the real descriptors is seen.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from badinput import assert_rejected, run_cli, run_subprocess, snapshot
from rdkit import Chem


@dataclass
class Ctx:
    """The folders of one case: ``inp`` (inputs, must stay untouched), ``out`` (outputs)."""

    inp: Path
    out: Path
    pdb: Path
    sdf: Path
    model: Path
    xtc: Path

    def base(self, pdb=None, sdf=None, **kw) -> list:
        """A full, valid command line; keyword arguments replace or add options."""
        opts = {"-o": self.out / "traj.xtc", "--model": self.model, "--snapshots": 2,
                "--device": "cpu", **kw}  # fmt: skip
        args = [self.pdb if pdb is None else pdb, self.sdf if sdf is None else sdf]
        for key, value in opts.items():
            if value is not None:
                args += [key, value]
        return ["rollout", *args]

    def write(self, name: str, content: bytes | str) -> Path:
        path = self.inp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


def _garbage(n: int = 3000) -> bytes:
    return np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()


def _nan_pdb(c: Ctx, token: str) -> Path:
    lines = c.pdb.read_text().splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if ln.startswith("ATOM"))
    lines[k] = lines[k][:30] + f"{token:>8}" + lines[k][38:]
    return c.write(f"{token}.pdb", "".join(lines))


def _nan_sdf(c: Ctx) -> Path:
    lines = c.sdf.read_text().splitlines(keepends=True)
    lines[6] = f"{'nan':>10}" + lines[6][10:]  # the third atom's x
    return c.write("nan.sdf", "".join(lines))


def _moved_sdf(c: Ctx, shift: tuple[float, float, float], name: str) -> Path:
    mol = Chem.MolFromMolFile(str(c.sdf), removeHs=False)
    conf = mol.GetConformer()
    for i, p in enumerate(conf.GetPositions() + np.asarray(shift)):
        conf.SetAtomPosition(i, p.tolist())
    path = c.inp / name
    Chem.MolToMolFile(mol, str(path))
    return path


def _ligand_only_pdb(c: Ctx) -> Path:
    keep = [ln for ln in c.pdb.read_text().splitlines(keepends=True) if " TMP " in ln]
    return c.write("ligand_only.pdb", "".join(keep) + "END\n")


def _flat_sdf(c: Ctx) -> Path:
    mol = Chem.MolFromMolFile(str(c.sdf))
    mol.RemoveAllConformers()
    path = c.inp / "flat.sdf"
    Chem.MolToMolFile(mol, str(path))  # RDKit writes a 2D (all-zero) block
    return path


def _list(c: Ctx, text: str, name: str = "list.tsv") -> Path:
    return c.write(name, text)


def _batch(c: Ctx, lst: Path, **kw) -> list:
    opts = {"--batch": lst, "-o": c.out, "--model": c.model, "--snapshots": 2, "--device": "cpu",
            **kw}  # fmt: skip
    return ["rollout"] + [str(x) for k, v in opts.items() if v is not None for x in (k, v)]


def _existing(c: Ctx, name: str) -> list:
    c.out.mkdir()
    (c.out / name).write_text("precious\n")
    return c.base()


def _model(c: Ctx, content: bytes, name: str) -> list:
    return c.base(**{"--model": c.write(name, content)})


Case = Callable[[Ctx], tuple]  # -> (args, names the line must contain, words it must say)

CASES: dict[str, Case] = {
    # ---- the complex PDB
    "pdb missing": lambda c: (c.base(pdb=c.inp / "nope.pdb"), ["nope.pdb"], ["not found"]),
    "pdb empty": lambda c: (c.base(pdb=c.write("empty.pdb", "")), ["empty.pdb"], ["empty"]),
    "pdb garbage bytes": lambda c: (c.base(pdb=c.write("junk.pdb", _garbage())), ["junk.pdb"], []),
    "pdb garbage text": lambda c: (
        c.base(pdb=c.write("words.pdb", "this is not a PDB file\n" * 40)), ["words.pdb"], []),
    "pdb truncated": lambda c: (
        c.base(pdb=c.write("half.pdb", c.pdb.read_bytes()[: c.pdb.stat().st_size // 2 + 17])),
        ["half.pdb"], ["truncated"]),
    "pdb is an sdf": lambda c: (c.base(pdb=c.write("lig.pdb", c.sdf.read_bytes())), ["lig.pdb"], []),
    "pdb is a folder": lambda c: (c.base(pdb=c.inp), [str(c.inp)], ["directory"]),
    "pdb nan coordinate": lambda c: (c.base(pdb=_nan_pdb(c, "nan")), ["nan.pdb", "atom 1"],
                                     ["NaN"]),
    "pdb inf coordinate": lambda c: (c.base(pdb=_nan_pdb(c, "inf")), ["inf.pdb", "atom 1"],
                                     ["inf"]),
    "pdb without protein": lambda c: (c.base(pdb=_ligand_only_pdb(c)), ["ligand_only.pdb"],
                                      ["backbone"]),
    # ---- the ligand
    "sdf missing": lambda c: (c.base(sdf=c.inp / "nope.sdf"), ["nope.sdf"], ["not found"]),
    "sdf empty": lambda c: (c.base(sdf=c.write("empty.sdf", "")), ["empty.sdf"], ["empty"]),
    "sdf garbage": lambda c: (c.base(sdf=c.write("junk.sdf", _garbage())), ["junk.sdf"],
                              ["binary"]),
    "sdf truncated": lambda c: (
        c.base(sdf=c.write("half.sdf", c.sdf.read_bytes()[: c.sdf.stat().st_size // 2])),
        ["half.sdf"], ["truncated"]),
    "sdf holds a pdb": lambda c: (c.base(sdf=c.write("prot.sdf", c.pdb.read_bytes())),
                                  ["prot.sdf"], ["PDB records"]),
    "ligand given as pdb": lambda c: (c.base(sdf=c.pdb), ["complex.pdb"], ["format"]),
    "ligand unknown extension": lambda c: (
        c.base(sdf=c.write("lig.xyz", c.sdf.read_bytes())), ["lig.xyz"], [".xyz"]),
    "sdf is a folder": lambda c: (c.base(sdf=c.inp), [str(c.inp)], ["directory"]),
    "sdf nan coordinate": lambda c: (c.base(sdf=_nan_sdf(c)), ["nan.sdf", "atom 3"], ["nan"]),
    "sdf 2d": lambda c: (c.base(sdf=_flat_sdf(c)), ["flat.sdf"], ["3D"]),
    "ligand 50 A away": lambda c: (c.base(sdf=_moved_sdf(c, (50, 0, 0), "far.sdf")),
                                   ["far.sdf", "Å from the nearest protein atom"],
                                   ["no pocket residue", "within 5 Å"]),
    "ligand chain selects nothing": lambda c: (c.base(**{"--ligand-chain": "Z"}),
                                               ["complex.pdb", "--ligand-chain Z"], ["no residue"]),
    "ligand resname too long": lambda c: (c.base(**{"--ligand-resname": "LIGAND"}),
                                          ["--ligand-resname"], ["residue name"]),
    "ligand chain empty": lambda c: (c.base(**{"--ligand-chain": " "}), ["--ligand-chain"],
                                     ["empty"]),
    # ---- the model
    "model missing": lambda c: (c.base(**{"--model": c.inp / "nope.pt"}), ["nope.pt"],
                                ["not found"]),
    "model empty": lambda c: (_model(c, b"", "empty.pt"), ["empty.pt"], []),
    "model garbage": lambda c: (_model(c, _garbage(), "junk.pt"), ["junk.pt"], []),
    "model is a folder": lambda c: (c.base(**{"--model": c.inp}), [str(c.inp)], []),
    "model is a dict of tensors": lambda c: (
        _model(c, _saved({"weights": torch.zeros(3)}), "plain.pt"), ["plain.pt"], ["checkpoint"]),
    # ---- options out of range
    "snapshots 0": lambda c: (c.base(**{"--snapshots": 0}), ["--snapshots"], ["at least 1"]),
    "snapshots -5": lambda c: (c.base(**{"--snapshots": -5}), ["--snapshots"], ["at least 1"]),
    "samples 0": lambda c: (c.base(**{"--samples": 0}), ["--samples"], ["at least 1"]),
    "seed -1": lambda c: (c.base(**{"--seed": -1}), ["--seed"], []),
    "compile maybe": lambda c: (c.base(**{"--compile": "maybe"}), ["--compile"], ["auto, yes or no"]),
    "device tpu": lambda c: (c.base(**{"--device": "tpu"}), ["--device", "tpu"], ["unknown"]),
    "device cuda:abc": lambda c: (c.base(**{"--device": "cuda:abc"}), ["--device", "cuda:abc"],
                                  []),
    "device cuda:99": lambda c: (c.base(**{"--device": "cuda:99"}), ["--device", "cuda:99"], []),
    "device cuda without one": lambda c: (c.base(**{"--device": "cuda"}), ["--device", "cuda"],
                                          ["no CUDA device"]),
    "init velocity unknown": lambda c: (c.base(**{"--init-velocity": "hot"}),
                                        ["--init-velocity", "hot"], ["unknown"]),
    "temperature -5": lambda c: (c.base(**{"--init-velocity": "thermal", "--temperature": -5}),
                                 ["--temperature"], ["> 0 K"]),
    "temperature 0": lambda c: (c.base(**{"--init-velocity": "thermal", "--temperature": 0}),
                                ["--temperature"], ["> 0 K"]),
    "temperature nan": lambda c: (c.base(**{"--init-velocity": "thermal", "--temperature": "nan"}),
                                  ["--temperature"], ["> 0 K"]),
    "from-traj without trajectory": lambda c: (c.base(**{"--init-velocity": "from-traj"}),
                                               ["--init-velocity"], ["--velocity-traj"]),
    "velocity traj without from-traj": lambda c: (c.base(**{"--velocity-traj": c.xtc}),
                                                  ["--velocity-traj"], ["from-traj"]),
    "velocity traj missing": lambda c: (
        c.base(**{"--init-velocity": "from-traj", "--velocity-traj": c.inp / "nope.xtc",
                  "--velocity-top": c.pdb}), ["nope.xtc"], ["not found"]),  # fmt: skip
    "max displacement -1": lambda c: (c.base(**{"--max-displacement": -1}),
                                      ["--max-displacement"], ["> 0"]),
    "max displacement 0": lambda c: (c.base(**{"--max-displacement": 0}),
                                     ["--max-displacement"], ["> 0"]),
    "max displacement nan": lambda c: (c.base(**{"--max-displacement": "nan"}),
                                       ["--max-displacement"], ["> 0"]),
    "max bond stretch 1": lambda c: (c.base(**{"--max-bond-stretch": 1}),
                                     ["--max-bond-stretch"], ["> 1"]),
    "max bond stretch 0.5": lambda c: (c.base(**{"--max-bond-stretch": 0.5}),
                                       ["--max-bond-stretch"], ["> 1"]),
    "min backbone distance 0": lambda c: (c.base(**{"--min-backbone-distance": 0}),
                                          ["--min-backbone-distance"], ["> 0"]),
    "min backbone distance -1": lambda c: (c.base(**{"--min-backbone-distance": -1}),
                                           ["--min-backbone-distance"], ["> 0"]),
    "min backbone distance inf": lambda c: (c.base(**{"--min-backbone-distance": "inf"}),
                                            ["--min-backbone-distance"], ["finite"]),
    "format xml": lambda c: (c.base(**{"--format": "xml"}), ["--format", "xml"], ["unknown"]),
    # ---- outputs
    "output missing": lambda c: (c.base(**{"-o": None}), ["--output"], ["missing"]),
    "output extension unknown": lambda c: (c.base(**{"-o": c.out / "traj.xyz"}), ["traj.xyz"],
                                           [".xyz"]),
    "output exists": lambda c: (_existing(c, "traj.xtc"), ["traj.xtc"], ["--force"]),
    "output topology exists": lambda c: (_existing(c, "traj.pdb"), ["traj.pdb"], ["--force"]),
    "output status exists": lambda c: (_existing(c, "traj.status.json"), ["traj.status.json"],
                                       ["--force"]),
    "output is a folder": lambda c: (c.base(**{"-o": c.inp}), [str(c.inp)], ["directory"]),
    "output onto an input": lambda c: (c.base(**{"-o": c.inp / "complex.xtc", "--force": ""}),
                                       ["complex.pdb"], ["input"]),
    "output below a file": lambda c: (c.base(**{"-o": c.pdb / "traj.xtc"}), ["traj.xtc"],
                                      ["not a folder"]),
    # ---- arguments and --batch
    "no inputs": lambda c: (["rollout", "-o", c.out / "t.xtc", "--model", c.model],
                            ["COMPLEX.pdb"], []),
    "batch list missing": lambda c: (_batch(c, c.inp / "nope.tsv"), ["nope.tsv"], ["not found"]),
    "batch list empty": lambda c: (_batch(c, _list(c, "")), ["list.tsv"], ["empty"]),
    "batch list garbage": lambda c: (_batch(c, _list(c, _garbage().decode("latin-1") + "\x00")),
                                     ["list.tsv"], []),
    "batch list only comments": lambda c: (_batch(c, _list(c, "# nothing\n\n")), ["list.tsv"],
                                           ["no complexes"]),
    "batch line malformed": lambda c: (
        _batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n{c.pdb} {c.sdf} b\n")), ["list.tsv", "line 2"],
        ["tabs"]),
    "batch unknown file": lambda c: (
        _batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\nmissing.pdb\t{c.sdf}\tb\n")), ["missing.pdb"],
        ["not found"]),
    "batch duplicate names": lambda c: (
        _batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n{c.pdb}\t{c.sdf}\ta\n")), ["list.tsv"],
        ["unique"]),
    "batch name is a path": lambda c: (_batch(c, _list(c, f"{c.pdb}\t{c.sdf}\t../a\n")),
                                       ["list.tsv", "line 1"], ["file name"]),
    "batch size 0": lambda c: (_batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n"), **{"--batch-size": 0}),
                               ["--batch-size"], ["at least 1"]),
    "batch output is a file": lambda c: (
        _batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n"), **{"-o": c.pdb}), ["complex.pdb"],
        ["folder"]),
    "batch with arguments": lambda c: (
        ["rollout", c.pdb, c.sdf, *_batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n"))[1:]],
        ["--batch"], ["arguments"]),
    "batch with ligand chain": lambda c: (
        _batch(c, _list(c, f"{c.pdb}\t{c.sdf}\ta\n"), **{"--ligand-chain": "A"}), ["--batch"],
        ["--ligand-chain"]),
}  # fmt: skip


def _saved(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture
def ctx(t4l_seed0: Path, ode_ckpt: Path, tmp_path: Path) -> Ctx:
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(t4l_seed0 / "topology.pdb", inp / "complex.pdb")
    shutil.copy(t4l_seed0 / "ligand.sdf", inp / "ligand.sdf")
    shutil.copy(t4l_seed0 / "traj.xtc", inp / "traj.xtc")
    return Ctx(inp, tmp_path / "out", inp / "complex.pdb", inp / "ligand.sdf", ode_ckpt,
               inp / "traj.xtc")  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_rejected(case: str, ctx: Ctx) -> None:
    if case == "device cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("a machine with 100 GPUs")
    if case == "device cuda without one" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    args, names, words = CASES[case](ctx)
    args = [a for a in args if a != ""]
    watched = [ctx.inp, ctx.out, ctx.model]
    before = snapshot(watched)
    outcome = run_cli(args)
    assert_rejected(outcome, names, before, snapshot(watched), words)


def _truncated_xtc(c: Ctx) -> Path:
    return c.write("cut.xtc", c.xtc.read_bytes()[: c.xtc.stat().st_size // 2 + 5])


def _xtc_as_dcd(c: Ctx) -> Path:
    return c.write("renamed.dcd", c.xtc.read_bytes())


SUBPROCESS_CASES: dict[str, Case] = {
    "pdb nan coordinate": lambda c: (c.base(pdb=_nan_pdb(c, "nan")), ["nan.pdb", "atom 1"],
                                     ["NaN"]),
    "velocity traj truncated": lambda c: (
        c.base(**{"--init-velocity": "from-traj", "--velocity-traj": _truncated_xtc(c),
                  "--velocity-top": c.pdb}), ["cut.xtc"], ["truncated"]),
    "velocity traj xtc renamed dcd": lambda c: (
        c.base(**{"--init-velocity": "from-traj", "--velocity-traj": _xtc_as_dcd(c),
                  "--velocity-top": c.pdb}), ["renamed.dcd"], []),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SUBPROCESS_CASES))
def test_rejected_in_a_child_process(case: str, ctx: Ctx) -> None:
    """What xdrfile / the DCD plugin print on the real descriptors must not reach the user."""
    args, names, words = SUBPROCESS_CASES[case](ctx)
    watched = [ctx.inp, ctx.out, ctx.model]
    before = snapshot(watched)
    outcome = run_subprocess(args)
    assert_rejected(outcome, names, before, snapshot(watched), words)
    assert not ctx.out.exists()
