"""The CLI's one error boundary: every error a user can fix is one line and an exit code
(docs/errors.md's table), never a traceback.

It is the root command group's class, so it wraps the parsing and the running of every
command the app composes, however deep: a command is a plain `@app.command()` and maps
nothing itself.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import typer
from typer.core import TyperGroup

from torchsweep.cli import output
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.trainer.errors import UserError, WriteError, cannot_write

# Typer's click (its own copy since Typer 0.25) raises this, or a subclass, for every usage error.
if TYPE_CHECKING:   # the class it finds, in the Typer the checker sees
    from typer._click.exceptions import UsageError
else:
    UsageError = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError")

INTERRUPTED_EXIT = 130    # 128 + SIGINT


class OneLineErrors(TyperGroup):
    """The root group: a usage error (an unknown option, a value out of range) and an error
    of the user's (a bad study, a storage that cannot be reached) become `error: WHAT` on
    stderr and their exit code, instead of usage text, a box or a traceback."""

    def make_context(self, *args, **kwargs):
        with _one_line_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _one_line_errors():
            return super().invoke(ctx)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":   # a bare `sweep`: the help is shown
            raise
        message = " ".join(error.format_message().split()).rstrip(".")
        if error.ctx is not None:
            message += f"; see `{error.ctx.command_path} --help`"
        _exit(message, error.exit_code)
    except Stopped as stop:  # SIGINT, SIGTERM: running trials were left resumable
        _exit(f"{stop}; the same command again continues the study", stop.exit_code)
    except KeyboardInterrupt:  # Ctrl+C outside a sweep (start-up, `sweep train`)
        _exit("interrupted by SIGINT", INTERRUPTED_EXIT)
    except UserError as error:
        _exit(str(error), error.exit_code)
    except OSError as error:  # a write of a library's: a full disk, a read-only folder
        if not cannot_write(error):
            raise   # a bug: its traceback is what a report needs
        _exit(f"cannot write {error.filename or 'an output'}: {error.strerror}",
              WriteError.exit_code)


def _exit(message: str, code: int):
    output.error(message)
    raise typer.Exit(code) from None
