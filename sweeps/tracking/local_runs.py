"""A study's W&B runs on disk (`<root>/<study>/wandb/`): listed with their sync state, and
uploaded with W&B's own sync.

W&B names a run's folder `offline-run-<time>-<id>` (`run-<time>-<id>` for a run made online,
which W&B uploaded as it ran) and, once `wandb sync` has uploaded a run's `run-<id>.wandb` log,
leaves `run-<id>.wandb.synced` beside it: that marker is the sync state. Run ids name their
trial (`t3-...`, `study-...`, see tracking.new_run_id), so listing never opens a log.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from torchsweep.sweeps.errors import StudyNotFound, SyncError
from torchsweep.sweeps.study.messages import STUDY_NAME_CUTOFF, did_you_mean
from torchsweep.sweeps.tracking.wandb_runs import WANDB_FOLDER

_FOLDER = re.compile(r"^(?P<offline>offline-)?run-(?P<time>\d{8}_\d{6})-")
_ID = re.compile(r"^(?:t(?P<trial>\d+)|study)-")


@dataclass
class LocalRun:
    name: str                  # as W&B shows it: <study>-t<n>, <study>-summary
    trial: int | None          # None for the study run
    run_id: str
    sync: str                  # unsynced | synced (offline runs) | online (uploaded as it ran)
    started: str               # ISO time, from the folder name
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "folder": str(self.folder)}


def runs_folder(root: Path, study: str) -> Path:
    return Path(root) / study / WANDB_FOLDER


def list_runs(root: Path, study: str) -> list[LocalRun]:
    """The study's runs, oldest first ([] when it ran without W&B)."""
    if not (Path(root) / study).is_dir():
        studies = [path.name for path in Path(root).iterdir() if path.is_dir()] \
            if Path(root).is_dir() else []
        raise StudyNotFound(f"no study '{study}' under {root}"
                            f"{did_you_mean(study, studies, STUDY_NAME_CUTOFF)}")
    folder = runs_folder(root, study)
    runs = [_local_run(path, study) for path in folder.iterdir()
            if not path.is_symlink() and _FOLDER.match(path.name)] if folder.is_dir() else []
    # Folder times are in seconds: within one, trials in order, then the study run.
    return sorted((run for run in runs if run is not None),
                  key=lambda run: (run.started, run.trial is None, run.trial or 0))


def _local_run(folder: Path, study: str) -> LocalRun | None:
    log = next(folder.glob("run-*.wandb"), None)
    if log is None:
        return None
    run_id = log.stem[len("run-"):]
    named = _ID.match(run_id)
    trial = int(named["trial"]) if named and named["trial"] else None
    name = (f"{study}-t{trial}" if trial is not None else
            f"{study}-summary" if named else run_id)
    folder_name = _FOLDER.match(folder.name)
    if not folder_name["offline"]:
        sync = "online"
    else:
        sync = "synced" if log.with_suffix(".wandb.synced").exists() else "unsynced"
    started = datetime.strptime(folder_name["time"], "%Y%m%d_%H%M%S").isoformat()
    return LocalRun(name=name, trial=trial, run_id=run_id, sync=sync, started=started,
                    folder=folder)


def sync_runs(root: Path, study: str, *, project: str | None, entity: str | None,
              timeout: float) -> list[LocalRun]:
    """Upload the study's unsynced offline runs with `wandb sync`; return the runs uploaded.
    W&B's sync retries for as long as the network is down, hence the timeout."""
    pending = [run for run in list_runs(root, study) if run.sync == "unsynced"]
    if not pending:
        return []
    command = [sys.executable, "-m", "wandb", "sync", *(str(run.folder) for run in pending)]
    command += ["--project", project] if project else []
    command += ["--entity", entity] if entity else []
    # Its own session, so that a timeout ends wandb sync and the W&B service it started.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        why = _last_message(output)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        why = f"W&B's sync did not finish within {timeout:g} s"
    synced = {run.run_id for run in list_runs(root, study) if run.sync == "synced"}
    left = [run for run in pending if run.run_id not in synced]
    if left:
        raise SyncError(f"{len(left)} of {len(pending)} runs of '{study}' not synced ({why}); "
                        f"`sweep sync {study}` again syncs the rest")
    return pending


def _last_message(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return re.sub(r"^(wandb: )?(ERROR |Error: )?", "", last)
