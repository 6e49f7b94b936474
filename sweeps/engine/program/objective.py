"""The Optuna objective for a user's own program: run it as W&B's agent does, read its metric.

Each trial writes its values where W&B's agent would (a sweep-parameter file for `wandb.config`,
the command line from the study's `command:`), runs the program in the trial's folder
(`SWEEP_TRIAL_DIR`; a retry gets its attempt's folder back), and follows the program's own W&B
run as it is written. Each value of the study metric is reported to Optuna at the step it was
logged (its `epoch` when the row has one, else W&B's `_step`); when the pruner says stop, the
program is stopped as W&B's agent stops one (SIGTERM, SIGKILL after a grace period) and the
trial is pruned with its last reported value. A trial's value is the run summary's value of
the metric: what W&B itself would use.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import _optuna, outage
from torchsweep.sweeps.engine.failures import failed, infeasible
from torchsweep.sweeps.engine.objective import Observer
from torchsweep.sweeps.engine.program.process import STOP_GRACE, ProgramProcess
from torchsweep.sweeps.engine.program.records import RunRecords
from torchsweep.sweeps.errors import InfeasibleDraw
from torchsweep.sweeps.study import StudySpec
from torchsweep.sweeps.study.command import build_command, json_text
from torchsweep.sweeps.study.program_files import ARGS_FILE, PARAMS_FILE
from torchsweep.sweeps.tracking._wandb import write_sweep_params
from torchsweep.sweeps.tracking.wandb_runs import Tracker
from torchsweep.trainer.atomic import write_text_atomic

POLL = 0.2                  # seconds between looks at the program and its run
STOPPED_STATE = "stopped"           # what a pruned program's W&B run says it ended as
CHILD_SITE = Path(__file__).parent / "_child"   # the hook that ends a stopped run cleanly
# A completed Optuna trial has a value; a study without a metric ranks none, and its readers
# show none (readout.trials), so every trial completes with this one.
NO_METRIC_VALUE = 0.0


@dataclass
class ProgramObjective:
    spec: StudySpec
    root: Path
    tracker: Tracker                  # the worker's, for the W&B mode and project
    sampler_name: str
    observer: Observer
    trial_timeout: float | None = None   # seconds a program may go without logging
    stop_grace: float = STOP_GRACE
    job: str | None = None               # the scheduler job this worker runs in

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            values = self.spec.space.sample(trial)
        except InfeasibleDraw as error:
            raise infeasible(trial, error) from None
        folder = trial_folder(self.spec.name, _optuna.frozen(trial), trial.number)
        attrs.record_start(trial, values, folder, self.job)
        self.observer.trial_started(trial.number, values)
        # Absolute: the program may change its working folder.
        records, program = self._start(trial, values, (self.root / folder).resolve())
        try:
            with program:   # Ctrl+C or SIGTERM here reaches the program too, then stops it
                outcome = self._follow(trial, program, records)
        finally:
            records.close()
        return self._judge(trial, outcome, program, records)

    def _start(self, trial: optuna.Trial, values: dict[str, Any],
               folder: Path) -> tuple[RunRecords, Any]:
        values = self.spec.space.nest(values)   # W&B's nested groups, as its agent passes them
        write_sweep_params(folder / PARAMS_FILE, values)
        write_text_atomic(folder / ARGS_FILE, json_text(values))
        study_dir = (self.root / self.spec.name).resolve()
        run_id, environment = self.tracker.program_run(
            study=self.spec.name, trial_number=trial.number, study_dir=study_dir,
            tags=(self.sampler_name,), sweep_params=folder / PARAMS_FILE)
        paths = [str(CHILD_SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
        environment = {**os.environ, **environment, "SWEEP_TRIAL_DIR": str(folder),
                       "SWEEP_TRIAL_NUMBER": str(trial.number),
                       "SWEEP_STOPPED_STATE": STOPPED_STATE, "PYTHONPATH": os.pathsep.join(paths)}
        return RunRecords(study_dir, run_id), self._process(environment, values, folder)

    def _process(self, environment: dict[str, str], values: dict[str, Any], folder: Path) -> Any:
        """What runs the trial's code (a function's objective runs it on a thread instead)."""
        command = build_command(self.spec.command, program=self.spec.program, values=values,
                                json_file=str(folder / ARGS_FILE))
        return ProgramProcess(command, env=environment, folder=folder, grace=self.stop_grace)

    def _follow(self, trial: optuna.Trial, program: ProgramProcess,
                records: RunRecords) -> dict[str, Any]:
        """Report each logged value until the program ends, or is stopped and has ended; what
        happened. What a stopped program logged before it ended is reported too, so a pruned
        trial's last value is its run summary's, as W&B shows it."""
        metric, single = self.spec.metric, not self.spec.multi_objective
        reported: list[tuple[int, float]] = []
        stopped, last_news = None, time.monotonic()
        while True:
            exited = program.wait(POLL)
            for row in records.finish() if exited is not None else records.new_rows():
                last_news = time.monotonic()
                if metric not in row or not isinstance(row[metric], (int, float)):
                    continue
                step = _step(row)
                reported.append((step, float(row[metric])))
                self.observer.epoch_ended(trial.number, {"epoch": step, metric: row[metric]})
                if not single:
                    continue   # Optuna takes intermediate values of single objectives only
                if outage.report(trial, float(row[metric]), step) and stopped is None:
                    stopped = "pruned"
            if exited is not None:
                return {"stopped": stopped, "reported": reported}
            if stopped is None and self.trial_timeout and \
                    time.monotonic() - last_news > self.trial_timeout:
                stopped = "timed_out"
            if stopped is not None:
                program.stop(signal.SIGTERM)   # returns once it has ended; its last rows next

    def _judge(self, trial: optuna.Trial, outcome: dict[str, Any], program: ProgramProcess,
               records: RunRecords) -> float | tuple[float, ...]:
        names = [objective.name for objective in self.spec.objectives]
        reported = outcome["reported"]
        attrs.record_config(trial, records.config)
        attrs.record_summary(trial, {
            "epochs_run": len(reported),
            "pruned_at": reported[-1][0] if outcome["stopped"] == "pruned" else None,
            "best": {name: records.summary[name] for name in names if name in records.summary},
            "exit_code": program.exit_code})
        if outcome["stopped"] == "pruned":
            attrs.record_reason(trial, "pruned")
            raise optuna.TrialPruned(f"pruned at step {reported[-1][0]}")
        if outcome["stopped"] == "timed_out":
            raise failed(trial, "timed_out", f"the program logged nothing for "
                         f"{self.trial_timeout:g} s (--trial-timeout) and was stopped")
        if program.exit_code != 0:
            raise failed(trial, "error", f"the program exited with code {program.exit_code}; "
                         f"its stderr ends:\n{program.stderr_tail()}")
        if not names:   # a study without a metric (StudySpec.ranked): nothing to read
            return NO_METRIC_VALUE
        missing = [name for name in names if not isinstance(records.summary.get(name),
                                                             (int, float))]
        if missing:
            logged = ", ".join(sorted(records.keys)) or "nothing"
            raise failed(trial, "no_metric", f"the program never logged {missing[0]} to W&B; "
                         f"it logged: {logged}")
        values = tuple(float(records.summary[name]) for name in names)
        return values if len(values) > 1 else values[0]


def trial_folder(study: str, trial: Any, number: int) -> str:
    """A trial's folder, relative to the root: its first attempt's, so a retry finds what the
    program saved there."""
    first = trial.system_attrs.get(attrs.RETRIED_TRIAL, number)
    return f"{study}/trials/{first:05d}"


def _step(row: dict[str, Any]) -> int:
    """The step a row was logged at: its `epoch` when that is a whole number, else W&B's."""
    epoch = row.get("epoch")
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) and \
            float(epoch).is_integer():
        return int(epoch)
    return int(row.get("_step", 0))
