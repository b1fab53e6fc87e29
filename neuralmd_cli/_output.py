"""Rendering of results (table/JSON/CSV on stdout) and error → exit-code mapping (stderr)."""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import typer

from neuralmd_core.errors import NeuralMDError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """Print one line ``neuralmd: error: MESSAGE`` on stderr and exit with ``code``."""
    typer.echo(f"neuralmd: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Decorator for subcommands: library errors become one stderr line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NeuralMDError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def verbose_option() -> Any:
    """The ``-v/--verbose`` option every subcommand shares (count: -v info, -vv debug)."""
    return typer.Option(
        0, "-v", "--verbose", count=True, help="More log output on stderr: -v info, -vv debug."
    )


def quiet_option() -> Any:
    """The ``-q/--quiet`` option every subcommand shares: errors only, no progress bars."""
    return typer.Option(False, "-q", "--quiet", help="Errors only on stderr; no progress bars.")


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log to stderr: WARNING by default, INFO with -v, DEBUG with -vv, ERROR with -q.

    ``quiet`` also turns the progress bars off (they are drawn only when stderr is a terminal).
    """
    from neuralmd_core.progress import set_quiet

    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="neuralmd: %(message)s", force=True)
    set_quiet(quiet)


#: what a table cell shows for a missing value (never Python's ``None``)
MISSING = "-"


def _fmt(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render(
    rows: Sequence[Mapping[str, Any]], fmt: str = "table", meta: Mapping | None = None
) -> str:
    """Render rows (dicts with the same keys) as ``table``, ``json`` or ``csv`` text.

    JSON output is ``{"meta": {...}, "results": [rows...]}`` when ``meta`` is given, else the list.
    """
    if fmt == "json":
        payload: Any = (
            {"meta": dict(meta), "results": list(rows)} if meta is not None else list(rows)
        )
        return json.dumps(payload, indent=2, default=float)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise NeuralMDError(f"unknown format {fmt!r} (use table, json or csv)")
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def echo_result(text: str) -> None:
    """Results go to stdout, nothing else does."""
    typer.echo(text)
