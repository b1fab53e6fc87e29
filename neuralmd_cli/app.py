"""The typer app. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.16 vendors click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import UsageError


def _usage_line(exc: UsageError) -> str:
    """A usage error (bad value, unknown or missing option) as one line in our format."""
    text = " ".join(exc.format_message().split())
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return f"neuralmd: error: {text}{where}"


class _OneLineUsageErrors(TyperGroup):
    """The app's command group: click's multi-line usage boxes become one stderr line, exit 2."""

    def _one_line(self, func, *args: Any) -> Any:
        try:
            return func(*args)
        except UsageError as exc:
            typer.echo(_usage_line(exc), err=True)
            raise typer.Exit(2) from None

    def make_context(self, info_name, args, parent=None, **extra) -> Any:  # noqa: D102
        return self._one_line(lambda: super(_OneLineUsageErrors, self).make_context(
            info_name, args, parent=parent, **extra))  # fmt: skip

    def invoke(self, ctx) -> Any:  # noqa: D102
        return self._one_line(super().invoke, ctx)


app = typer.Typer(
    cls=_OneLineUsageErrors,
    name="neuralmd",
    help="Learn protein-ligand binding dynamics from MD trajectories and predict new ones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per subcommand; each defines ``register(app)``.
SUBCOMMANDS = ("prepare", "info", "train", "rollout", "evaluate", "rmsf", "benchmark")

for _name in SUBCOMMANDS:
    try:
        _module = importlib.import_module(f"neuralmd_cli.{_name}")
    except ModuleNotFoundError as exc:  # a subcommand not written yet
        if exc.name != f"neuralmd_cli.{_name}":
            raise
        continue
    _module.register(app)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from neuralmd_core import __version__

        typer.echo(__version__)
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry point."""
    app()
