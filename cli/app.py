"""The `sweep` command line. Thin: parse, validate at the boundary, call the engine, print.

Commands live by group, each module with its own `typer.Typer()` that this one composes:
`train_command` (one run), `study_commands` (define and run studies), `readout_commands` (read
them back), `wandb_commands` (their W&B runs on disk) and `launch_commands` (workers on a
cluster's scheduler, the `sweep launch` group). A new command is a plain `@app.command()` in one
of them, or a new module added to `GROUPS`. Errors are turned into one line and an exit code
once, for every command, by the root group's class in `boundary`.

Heavy modules (torch, optuna) are imported inside the commands that need them, so `sweep
--help` and the listing commands start fast.
"""
from __future__ import annotations

import re
import sys

import typer

from torchsweep.cli import (
    launch_commands,
    output,
    readout_commands,
    study_commands,
    train_command,
    wandb_commands,
)
from torchsweep.cli.boundary import OneLineErrors

__all__ = ["app"]

app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Hyperparameter sweeps for PyTorch: W&B sweep files, Optuna trials with "
                       "pruning, the best checkpoints kept.")
# In `sweep --help`'s order. A module's Typer without a name adds its commands to `sweep`
# itself (Typer >= 0.15); one with a name (`launch`) is a group of its own.
GROUPS = (train_command, study_commands, readout_commands, wandb_commands, launch_commands)
for module in GROUPS:
    app.add_typer(module.app)

MIN_TORCH = (2, 6)
OLD_TORCH_EXIT = 8


def torch_problem(version: str | None) -> str | None:
    """Why the installed torch must not run, or None. Before 2.6, torch.load(weights_only=True)
    could still run code hidden in a crafted checkpoint (CVE-2025-32434)."""
    if version is None:
        return "torch is not installed; pip install 'torch>=2.6'"
    release = re.match(r"(\d+)\.(\d+)", version)
    if release and (int(release[1]), int(release[2])) >= MIN_TORCH:
        return None
    return (f"torch {version} is too old: before 2.6 a checkpoint can run code even when loaded "
            f"with weights_only=True (CVE-2025-32434); pip install -U 'torch>=2.6'")


def _installed_torch() -> str | None:
    # The distribution's metadata, not `import torch`: the check must not slow every command.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


@app.callback()
def _at_start() -> None:
    """Before any command: refuse an unsafe torch, mask passwords in sys.argv, and print our
    warnings as one line each."""
    from torchsweep.sweeps.storage import mask_password

    output.one_line_warnings()
    problem = torch_problem(_installed_torch())
    if problem:
        output.error(problem)
        raise typer.Exit(OLD_TORCH_EXIT)
    # The arguments are parsed by now; libraries that record the command line (W&B stores it
    # in every run's metadata) must not find a storage password in it.
    sys.argv[:] = [mask_password(argument) for argument in sys.argv]
