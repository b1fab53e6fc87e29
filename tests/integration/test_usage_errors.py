"""Usage errors (bad option values, unknown options or commands) are one line and exit 2.

Click's own handling prints a usage box of several lines; the app's command group turns every
usage error of every subcommand into the package's one-line format.
"""

from __future__ import annotations

import pytest
from badinput import assert_rejected, run_cli, run_subprocess, snapshot

from neuralmd_cli.app import SUBCOMMANDS

CASES = {
    "unknown command": (["bogus"], ["bogus"]),
    "unknown root option": (["--bogus"], ["--bogus"]),
    "rollout: integer expected": (
        ["rollout", "a.pdb", "b.sdf", "-o", "x.xtc", "--snapshots", "abc"],
        ["--snapshots"],
    ),  # fmt: skip
    "rollout: float expected": (
        ["rollout", "a.pdb", "b.sdf", "-o", "x.xtc", "--temperature", "hot"],
        ["--temperature"],
    ),  # fmt: skip
    "train: integer expected": (["train", "d.h5", "--epochs", "1.5"], ["--epochs"]),
    "benchmark: integer expected": (["benchmark", "--repeats", "x"], ["--repeats"]),
    "rmsf: integer expected": (["rmsf", "t.xtc", "--window", "w"], ["--window"]),
}
CASES.update({f"{cmd}: unknown option": ([cmd, "--no-such-option"], ["--no-such-option"])
              for cmd in SUBCOMMANDS})  # fmt: skip


@pytest.mark.parametrize("args,names", CASES.values(), ids=list(CASES))
def test_usage_errors_are_one_line(args, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot([tmp_path])
    outcome = run_cli(args)
    assert_rejected(outcome, names, before, snapshot([tmp_path]))
    assert "--help" in outcome.stderr  # says where to look


def test_the_installed_command_prints_one_line(tmp_path):
    before = snapshot([tmp_path])
    outcome = run_subprocess(["rollout", "a.pdb", "b.sdf", "-o", "x.xtc", "--snapshots", "abc"],
                             cwd=tmp_path)  # fmt: skip
    assert_rejected(outcome, ["--snapshots"], before, snapshot([tmp_path]))
