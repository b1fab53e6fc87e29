"""The typer app. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
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
