"""The `sweep` command line: a thin Typer layer over `sweeps` and `trainer`."""
