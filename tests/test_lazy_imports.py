"""`sweep --help` and the listing commands never import torch (docs/architecture.md): it takes
seconds to import, and they answer in well under one. Each runs as a real process that says at
exit whether torch was imported."""
import subprocess
import sys

import pytest
from cli_helpers import sweep_json

MARK = "torch imported: "
# The `sweep` command, and at exit (after an error or an exit code too) the mark on stderr.
PROBE = f"""
import atexit, sys
atexit.register(lambda: print({MARK!r} + str('torch' in sys.modules), file=sys.stderr))
from torchsweep.cli.app import app
app()
"""
# Every command's --help, groups' subcommands included, one after another in one process: the
# first that imports torch is named.
EVERY_HELP = """
import sys
import typer
from torchsweep.cli.app import app

def paths(command, path):
    yield path
    if hasattr(command, "list_commands"):   # a group (Typer carries its own copy of Click)
        context = command.context_class(command)
        for name in command.list_commands(context):
            yield from paths(command.get_command(context, name), [*path, name])

helped = []
for path in paths(typer.main.get_command(app), []):
    try:
        app([*path, "--help"], prog_name="sweep")
    except SystemExit as exit:
        assert exit.code in (0, None), f"sweep {' '.join(path)} --help exited with {exit.code}"
    assert "torch" not in sys.modules, f"sweep {' '.join(path)} --help imported torch"
    helped.append(" ".join(path))
print("helped:", ",".join(helped), file=sys.stderr)
"""


def run_python(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A storage holding a study with a finished trial, for the commands that read one."""
    root = tmp_path_factory.mktemp("listed")
    sweep_json("run", "listed", "--param", "lr=0.05", "--sampler", "grid", "--set",
               "epochs=1", "--set", "model=mlp", "--set", "width=8", "--wandb", "disabled",
               "--root", root)
    return root


@pytest.mark.parametrize("command, shown", [
    (["--help"], "Usage: "), (["list", "--root", "{root}"], "listed"),
    (["space", "batchsize_study"], "batch_size"),
    (["show", "listed", "--root", "{root}"], "lr="),
    (["best", "listed", "--root", "{root}"], "listed")],
    ids=["help", "list", "space", "show", "best"])
def test_listing_commands_never_import_torch(root, command, shown):
    done = run_python(PROBE, *[arg.format(root=root) for arg in command])
    assert done.returncode == 0 and shown in done.stdout, done.stderr + done.stdout  # it worked
    assert done.stderr.splitlines()[-1] == f"{MARK}False", done.stderr


def test_no_commands_help_imports_torch():
    done = run_python(EVERY_HELP)
    assert done.returncode == 0, done.stderr
    helped = done.stderr.splitlines()[-1].removeprefix("helped: ").split(",")
    # every command, and each of `launch`'s
    assert {"", "train", "run", "show", "list", "space", "launch", "launch slurm",
            "launch k8s"} <= set(helped), helped


# A program that fails its first trial (exit code 1) and logs its metric to W&B in the second.
PROGRAM = """
import sys, wandb
run = wandb.init()
if run.config.lr < 0.05:
    sys.exit(1)
wandb.log({"val_loss": run.config.lr})
run.finish()
"""


def test_a_programs_sweep_never_imports_torch(tmp_path):
    """The user's program trains, not sweep: a program study's run, with a failed trial (whose
    memory sweep frees) and a completed one, leaves torch unimported (5 s of a busy core)."""
    (tmp_path / "train.py").write_text(PROGRAM)
    (tmp_path / "study.yaml").write_text(
        "program: train.py\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
        "parameters:\n  lr: {values: [0.01, 0.1]}\n")
    done = subprocess.run([sys.executable, "-c", PROBE, "run", "study.yaml", "--root", "runs",
                           "--wandb", "offline"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0 and "1 completed, 0 pruned, 1 failed" in done.stdout, \
        done.stderr + done.stdout   # it worked
    assert done.stderr.splitlines()[-1] == f"{MARK}False", done.stderr
