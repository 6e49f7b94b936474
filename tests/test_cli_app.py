"""The composed `sweep` app: every command a module defines is reachable and answers --help; a
new command written as a plain `@app.command()` gets the one error boundary without asking
for it; --help and the listing commands never import torch."""
import errno
import importlib
import pkgutil
import signal
import subprocess
import sys

import pytest
import typer
import typer.main
from cli_helpers import one_line_error, sweep

import torchsweep.cli
from torchsweep.cli.app import app
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.sweeps.errors import ConfigError, SchedulerError, StorageError, StudyNotFound


def command_paths(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from command_paths(command, (*path, name))


COMMANDS = list(command_paths(typer.main.get_command(app)))


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_answers_help_under_its_own_name(path):
    result = sweep(*path, "--help")
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line).split()
    assert usage[2:2 + len(path)] == list(path), usage   # `Usage: PROG launch slurm submit ...`


def test_every_command_a_module_defines_is_composed():
    defined = {}
    for module in pkgutil.iter_modules(torchsweep.cli.__path__):
        found = vars(importlib.import_module(f"torchsweep.cli.{module.name}")).values()
        for typer_app in (value for value in found if isinstance(value, typer.Typer)):
            defined.update({info.callback: module.name for info in typer_app.registered_commands})

    def composed(group):
        for command in group.commands.values():
            if hasattr(command, "commands"):
                yield from composed(command)
            else:
                yield command.callback.__wrapped__   # Typer wraps the function it was given
    missing = set(defined) - set(composed(typer.main.get_command(app)))
    assert not missing, [f"{defined[f]}.{f.__name__}" for f in missing]
    assert ("launch", "slurm", "status") in COMMANDS and ("launch", "k8s") in COMMANDS


@pytest.fixture
def new_commands():
    """A newcomer's command module: its own Typer, composed into the real `sweep` as app.py
    composes the others; taken out again afterwards."""
    module_app = typer.Typer()
    app.add_typer(module_app)
    yield module_app
    app.registered_groups[:] = [group for group in app.registered_groups
                                if group.typer_instance is not module_app]


ERRORS = [
    (StudyNotFound("no study named 'x' in sqlite:///s.db"), 3,
     "error: no study named 'x' in sqlite:///s.db"),
    (StorageError("cannot reach postgresql://h/db"), 4, "error: cannot reach postgresql://h/db"),
    (SchedulerError("sbatch not found"), 11, "error: sbatch not found"),
    (ConfigError("lr", "must be > 0"), 2, "error: lr: must be > 0"),
    (typer.BadParameter("needs --export", param_hint="'--trial'"), 2,
     "error: Invalid value for '--trial': needs --export; see `sweep newcomer --help`"),
    (Stopped(signal.SIGTERM), 143,
     "error: preempted by SIGTERM; the same command again continues the study"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out.pt"), 7,
     "error: cannot write /data/out.pt: No space left on device"),
]


@pytest.mark.parametrize("error, code, line", ERRORS,
                         ids=[type(error).__name__ for error, _, _ in ERRORS])
def test_a_plain_new_command_gets_one_line_errors_and_exit_codes(new_commands, error, code, line):
    @new_commands.command()
    def newcomer() -> None:
        """A command that maps no error itself."""
        raise error

    result = sweep("newcomer")
    assert one_line_error(result, code) == line
    assert result.stdout == ""


def test_a_bug_in_a_new_command_keeps_its_traceback(new_commands):
    @new_commands.command()
    def newcomer() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):   # sweep() lets it through, as Python does
        sweep("newcomer")


@pytest.mark.parametrize("arguments", [["--help"], ["list"], ["launch", "slurm", "--help"]])
def test_help_and_listing_never_import_torch(tmp_path, arguments):
    probe = ("import sys\nfrom torchsweep.cli.app import app\ntry:\n    app()\nfinally:\n"
             "    print('torch' in sys.modules, file=sys.stderr)")
    ran = subprocess.run([sys.executable, "-c", probe, *arguments, *(
        ["--root", str(tmp_path)] if arguments == ["list"] else [])],
        capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == "False"
