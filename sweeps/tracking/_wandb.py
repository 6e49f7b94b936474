"""Every use of W&B beyond its documented API, in one place, guarded by what it does.

A run's files (`run_folders`, `run_file`): W&B names a run's folder and its transaction log,
and marks a log that `wandb sync` uploaded; listing the runs reads those names, never a log.

Settings W&B marks private (`x_`, `settings`, `environment`): where its defaults suit one
script better than a sweep. A later W&B may drop one; its Settings would then refuse it, so a
setting this W&B lacks is left out.

A trial's values reach a user's program as W&B's agent passes them (`write_sweep_params`).

A user's program reports its metric through its own W&B run, which we read as it is written.
W&B's own reader is `wandb leet inspect --follow --json RUN_FILE`: it prints each record of a
run's transaction log as one JSON line, as the run writes it. The `wandb` command starts it
through a second of Python imports, once per trial; here the wandb-core binary it launches is
run directly, with the same arguments. No version string is checked: pyproject.toml admits the
wandb releases CI has run, and tests/test_wandb_private.py reads a real offline run through this
function, so a wandb that changes either fails there; at run time a wandb without the binary's
locator is named in one line rather than as a bare ImportError.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# wandb.init(dir=D) writes each run in D/wandb/offline-run-<YYYYmmdd_HHMMSS>-<run id>/
# (run-<time>-<run id> for a run made online, uploaded as it ran), its transaction log
# run-<run id>.wandb inside; `wandb sync` leaves run-<run id>.wandb.synced beside the log.
_FOLDER = re.compile(r"^(?P<offline>offline-)?run-(?P<time>\d{8}_\d{6})-")
_LOG_PREFIX, _LOG_SUFFIX, _SYNCED_SUFFIX = "run-", ".wandb", ".wandb.synced"

# W&B writes a run's transaction log every 15 s: a killed trial keeps what was written, and
# `wandb leet` (and the pruner of a program's trial) sees its records once they are written.
FLUSH_INTERVAL = "x_transaction_log_flush_interval"
# W&B lists the environment's packages in every run, at half a second or more of CPU each.
SAVE_REQUIREMENTS = "x_save_requirements"
SWEEP_PARAM_PATH = "WANDB_SWEEP_PARAM_PATH"   # the agent's file of a run's values


class WandbChanged(RuntimeError):
    """This wandb lacks what the engine reads beyond its documented API."""


def _core_path() -> str:
    """The wandb-core binary that `wandb leet` starts."""
    import wandb

    try:
        from wandb.util import get_core_path
    except ImportError:
        raise WandbChanged(
            f"wandb {wandb.__version__} has no wandb.util.get_core_path, which torchsweep's "
            f"sweeps/tracking/_wandb.py reads: install a wandb that torchsweep's pyproject.toml "
            f"admits") from None
    return get_core_path()


def follow_records(run_file: Path) -> subprocess.Popen[str]:
    """W&B's reader on a run's `.wandb` file: one JSON record a line on stdout, as written,
    until the run ends (or the process is stopped)."""
    run_file = Path(run_file).resolve()   # the binary takes the run file and its wandb folder
    command = [_core_path(), "leet", "inspect", "--no-observability", "--json", "--follow",
               "--run-file", str(run_file), str(run_file.parent.parent)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, bufsize=1)


@dataclass(frozen=True)
class RunFolder:
    path: Path
    run_id: str
    offline: bool       # made offline (else online: uploaded as it ran)
    synced: bool        # an offline run that `wandb sync` has uploaded
    started: datetime   # from the folder's name, to the second


def run_folders(wandb_folder: Path) -> list[RunFolder]:
    """Every run in a folder of W&B runs, in no order; a folder without a log (a run that
    failed to start) is none."""
    found = []
    for path in Path(wandb_folder).iterdir():
        named = _FOLDER.match(path.name)
        log = next(path.glob(f"{_LOG_PREFIX}*{_LOG_SUFFIX}"), None) if named else None
        if named is None or path.is_symlink() or log is None:
            continue
        found.append(RunFolder(
            path=path, run_id=log.name[len(_LOG_PREFIX):-len(_LOG_SUFFIX)],
            offline=bool(named["offline"]),
            synced=log.with_name(log.name[:-len(_LOG_SUFFIX)] + _SYNCED_SUFFIX).exists(),
            started=datetime.strptime(named["time"], "%Y%m%d_%H%M%S")))
    return found


def folders_of(wandb_folder: Path, run_id: str) -> list[Path]:
    """The folders a run of this id wrote, however far it got."""
    return sorted(Path(wandb_folder).glob(f"*-{run_id}"))


def run_file(wandb_folder: Path, run_id: str) -> Path | None:
    """The run's transaction log, once it exists (the newest, were the id used twice)."""
    found = sorted(Path(wandb_folder).glob(f"*-{run_id}/{_LOG_PREFIX}{run_id}{_LOG_SUFFIX}"))
    return found[-1] if found else None


def settings(wandb: Any, wanted: dict[str, Any]) -> Any:
    """wandb.Settings with `wanted`, less a setting this W&B lacks (its Settings refuse an
    unknown one) or one the user's environment sets (W&B's own variables win)."""
    ours = {name: value for name, value in wanted.items()
            if name in wandb.Settings.model_fields and env_name(name) not in os.environ}
    return wandb.Settings(silent=True, console="off", **ours)


def environment(wanted: dict[str, Any]) -> dict[str, str]:
    """The same settings for a program's own wandb.init, as environment variables; the user's
    own values win."""
    return {env_name(name): os.environ.get(env_name(name), str(value))
            for name, value in wanted.items()}


def env_name(setting: str) -> str:
    """The variable W&B reads a setting from: WANDB_INIT_TIMEOUT, and for a private setting
    WANDB__TRANSACTION_LOG_FLUSH_INTERVAL."""
    private = setting.startswith("x_")
    return ("WANDB__" + setting[2:] if private else "WANDB_" + setting).upper()


def write_sweep_params(path: Path, values: dict[str, Any]) -> None:
    """W&B's sweep-parameter file, which `wandb.init` reads into `wandb.config` when
    WANDB_SWEEP_PARAM_PATH names it: `wandb_version: 1`, then `name: {value: v}` per value."""
    import yaml

    from torchsweep.trainer.atomic import write_text_atomic

    body = yaml.safe_dump({name: {"value": value} for name, value in values.items()},
                          default_flow_style=False, sort_keys=False, allow_unicode=True)
    write_text_atomic(path, "wandb_version: 1\n\n" + body)
