"""A study's W&B runs on disk (`<root>/<study>/wandb/`): listed with their sync state, and
uploaded with W&B's own sync.

What W&B's names say about a run (made offline or online, synced, started when) is read in
tracking/_wandb.py. Run ids name their trial (`t3-...`, `study-...`, see
wandb_runs.new_run_id), so listing never opens a log.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torchsweep.sweeps.errors import StudyNotFound, SyncError
from torchsweep.sweeps.tracking import _wandb
from torchsweep.sweeps.study.messages import STUDY_NAME_CUTOFF, did_you_mean
from torchsweep.sweeps.tracking.wandb_runs import WANDB_FOLDER

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
    runs = [_local_run(found, study) for found in _wandb.run_folders(folder)] \
        if folder.is_dir() else []
    # Folder times are in seconds: within one, trials in order, then the study run.
    return sorted(runs, key=lambda run: (run.started, run.trial is None, run.trial or 0))


def _local_run(found: _wandb.RunFolder, study: str) -> LocalRun:
    named = _ID.match(found.run_id)
    trial = int(named["trial"]) if named and named["trial"] else None
    name = (f"{study}-t{trial}" if trial is not None else
            f"{study}-summary" if named else found.run_id)
    sync = "online" if not found.offline else "synced" if found.synced else "unsynced"
    return LocalRun(name=name, trial=trial, run_id=found.run_id, sync=sync,
                    started=found.started.isoformat(), folder=found.path)


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
