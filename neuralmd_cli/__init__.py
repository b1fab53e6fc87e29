"""The `neuralmd` command line: a thin typer layer over `neuralmd_core`."""
