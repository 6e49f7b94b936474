"""The Typer app, and its one error boundary: every error a user can fix is one line and an
exit code (README's table), never a traceback.

Each command module registers its commands with `@command()`. Heavy modules (torch, optuna)
are imported inside the commands that need them, so `sweep --help` and the listing commands
start fast.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

import typer
from typer.core import TyperGroup

from torchsweep.cli import output
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.trainer.errors import UserError, WriteError, cannot_write

# Typer's click (its own copy since Typer 0.25) raises this, or a subclass, for every usage error.
UsageError = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError")


class OneLineUsageErrors(TyperGroup):
    """Typer's usage errors (an unknown option, a value out of range) as one line, like every
    other mistake, instead of usage text and a box: `error: WHAT; see `sweep run --help``."""

    def make_context(self, *args, **kwargs):
        with _usage_errors_as_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors_as_one_line():
            return super().invoke(ctx)


@contextmanager
def _usage_errors_as_one_line() -> Iterator[None]:
    try:
        yield
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":   # a bare `sweep`: the help is shown
            raise
        message = " ".join(error.format_message().split()).rstrip(".")
        if error.ctx is not None:
            message += f"; see `{error.ctx.command_path} --help`"
        output.error(message)
        raise typer.Exit(error.exit_code) from None


app = typer.Typer(cls=OneLineUsageErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Hyperparameter sweeps for PyTorch: W&B sweep files, Optuna trials with "
                       "pruning, the best checkpoints kept.")

INTERRUPTED_EXIT = 130    # 128 + SIGINT


def command(on: typer.Typer | None = None, **settings):
    """app.command (or the command group `on`'s), with the errors a user can fix turned into
    one line and an exit code."""
    def register(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Stopped as stop:  # SIGINT, SIGTERM: running trials were left resumable
                output.error(f"{stop}; the same command again continues the study")
                raise typer.Exit(stop.exit_code) from None
            except KeyboardInterrupt:  # Ctrl+C outside a sweep (start-up, `sweep train`)
                output.error("interrupted by SIGINT")
                raise typer.Exit(INTERRUPTED_EXIT) from None
            except UserError as error:
                output.error(str(error))
                raise typer.Exit(error.exit_code) from None
            except OSError as error:  # a write of a library's: a full disk, a read-only folder
                if not cannot_write(error):
                    raise   # a bug: its traceback is what a report needs
                output.error(f"cannot write {error.filename or 'an output'}: {error.strerror}")
                raise typer.Exit(WriteError.exit_code) from None
        return (on or app).command(**settings)(guarded)
    return register
