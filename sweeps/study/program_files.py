"""A `program:` study's trial folder (`SWEEP_TRIAL_DIR`): what sweep writes there, and what the
program saved.

Sweep writes the program's values (W&B's sweep-parameter file and `${args_json_file}`) and its
output (stdout and stderr) into the folder; anything else there is the program's own: what a
summary or an export calls its model. Torch- and Optuna-free, so the readout and the CLI can
tell the two apart.
"""
from __future__ import annotations

from pathlib import Path

PARAMS_FILE = "sweep-params.yaml"   # WANDB_SWEEP_PARAM_PATH
ARGS_FILE = "sweep-args.json"       # ${args_json_file}
STDOUT, STDERR = "stdout.log", "stderr.log"
SWEEPS_OWN = (STDOUT, STDERR, PARAMS_FILE, ARGS_FILE)


def files_in(folder: Path) -> list[str]:
    """Every file under `folder`, relative to it, sorted."""
    folder = Path(folder)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def saved_by_program(folder: Path) -> list[str]:
    """The files the program saved in its trial folder, relative to it, sorted."""
    return [name for name in files_in(folder) if name not in SWEEPS_OWN]
