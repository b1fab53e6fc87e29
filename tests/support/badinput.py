"""The contract every subcommand keeps on bad input, as one reusable check.

A bad input must give exit code 2, exactly one line on stderr (``neuralmd: error: ...``) that
names the file or option at fault, no traceback, no new or changed file in the folder the
command writes to, and the inputs untouched (byte for byte, and their modification times).

Two runners: :func:`run_cli` goes through typer's runner (fast, in process); :func:`run_subprocess`
runs ``python -m neuralmd_cli`` in a child process, so that what C libraries (xdrfile, the DCD
plugin, OpenMM) print on the real file descriptors 1 and 2 is seen and must be silenced.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from neuralmd_cli.app import app

_runner = CliRunner()


@dataclass
class Outcome:
    """What a command did: exit code and the text on stdout and stderr."""

    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str]) -> Outcome:
    """Run ``neuralmd ARGS`` in process through typer's runner."""
    result = _runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        return Outcome(1, result.stdout, result.stderr + "\nTraceback (escaped):\n" + tb)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def run_subprocess(args: Sequence[str], cwd: Path | None = None) -> Outcome:
    """Run ``python -m neuralmd_cli ARGS`` in a child process (real fds 1 and 2)."""
    env = dict(os.environ, PYTHONWARNINGS="default", NEURALMD_PROGRESS="0")
    proc = subprocess.run(
        [sys.executable, "-m", "neuralmd_cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def snapshot(paths: Iterable[Path]) -> dict[str, tuple]:
    """Every file under ``paths`` (recursively, hidden files included): size, mtime, digest."""
    state: dict[str, tuple] = {}
    for root in paths:
        root = Path(root)
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            st = f.stat()
            digest = hashlib.sha1(f.read_bytes()).hexdigest()
            state[str(f)] = (st.st_size, st.st_mtime_ns, digest)
        if root.is_dir():
            for d in sorted(p for p in root.rglob("*") if p.is_dir()):
                state[str(d) + "/"] = ()
    return state


def assert_rejected(
    outcome: Outcome,
    names: Sequence[str],
    before: dict[str, tuple],
    after: dict[str, tuple],
    words: Sequence[str] = (),
) -> None:
    """Assert the bad-input contract on one outcome.

    Args:
        outcome: the command's result.
        names: strings the error line must contain (the file or the option at fault).
        before, after: :func:`snapshot` of the watched folders before and after the command.
        words: further strings the line must contain (case-insensitive), e.g. the problem.
    """
    err = outcome.stderr
    context = f"exit {outcome.exit_code}\nstderr:\n{err}\nstdout:\n{outcome.stdout}"
    assert outcome.exit_code == 2, context
    assert "Traceback" not in err, context
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, context
    assert lines[0].startswith("neuralmd: error: "), context
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named\n{context}"
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not said\n{context}"
    assert outcome.stdout.strip() == "", context
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    assert not (added or removed or changed), f"files touched: +{added} -{removed} ~{changed}"


def fill(items: Sequence[str], files: dict[str, Path]) -> list[str]:
    """Replace each ``{name}`` in ``items`` by the path ``files[name]`` (table cases name files)."""
    out = []
    for item in items:
        for key, path in sorted(files.items(), key=lambda kv: -len(kv[0])):
            item = item.replace("{" + key + "}", str(path))
        out.append(item)
    return out
