"""The progress of a running study, as `sweep run` and `sweep worker` print it: trials done of
those queued, epochs trained, time elapsed and an estimate of the time left.

On a terminal it is a live status line that Rich redraws in place. Anywhere else (a log file,
CI, a Slurm job's output) redrawing means nothing and a line printed only at the end is no
progress at all: there it is one line per finished trial, printed and flushed as it happens.
Either is the orchestrator's observer (`engine.objective.Observer`). Printed through `output`.
"""
from __future__ import annotations

import time
from typing import Any

from rich.live import Live
from rich.markup import escape

from torchsweep.cli import output
from torchsweep.trainer.goal import Goal


def progress_view() -> "Progress":
    """The view for where stdout goes."""
    return LiveLine() if output.console.is_terminal else TrialLines()


def duration(seconds: float) -> str:
    """45s, 3m05s, 2h07m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """The counts both views show, from the moment the worker starts on its study (`planned`).
    Time left is the mean time of a finished trial times the trials still queued: a rough
    estimate, since pruned trials end early. Plain values only: a Slurm job pickles it."""

    def __init__(self) -> None:
        self.study, self.metric, self.goal, self.unit = "", "", Goal.MAXIMIZE, "epochs"
        self.counts = {"completed": 0, "pruned": 0, "failed": 0}
        self.queued: int | None = None
        self.best: float | None = None
        self.best_trial: int | None = None
        self.epochs = 0                          # over every trial, so far
        self.trial_epochs: dict[int, int] = {}   # per trial, so far
        self.started = time.monotonic()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def planned(self, queued: int, spec) -> None:
        self.study, self.metric, self.goal = spec.name, spec.metric, spec.goal
        # What an epoch callback counts: a program's are the steps it logged its metric at.
        self.unit = "steps" if spec.own_code else "epochs"
        self.queued, self.started = queued, time.monotonic()

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.trial_epochs[number] = 0

    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None:
        self.epochs += 1
        self.trial_epochs[number] = self.trial_epochs.get(number, 0) + 1

    def trial_finished(self, number: int, state: str, value: float | None) -> None:
        self.counts[state] = self.counts.get(state, 0) + 1
        if state == "completed" and value is not None:
            if self.best is None or self.goal.better(value, self.best):
                self.best, self.best_trial = value, number

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def of_queued(self) -> str:
        return f"{self.finished} of {self.queued}" if self.queued else str(self.finished)

    def timing(self) -> str:
        elapsed = time.monotonic() - self.started
        said = f"{duration(elapsed)} elapsed"
        if not self.queued or not self.finished:
            return said
        left = max(self.queued - self.finished, 0) * elapsed / self.finished
        return f"{said}, about {duration(left)} left" if left else said

    def best_so_far(self) -> str:
        if not self.metric:    # a study without a metric ranks nothing
            return "no metric to rank by"
        if self.best is None:
            return f"best {self.metric} -"
        return f"best {self.metric} {output.number(self.best)} (trial {self.best_trial})"


class LiveLine(Progress):
    """On a terminal: the counts, the best so far, the epochs and times, and the running
    trial's last epoch, redrawn in place four times a second (the clock moves within an
    epoch too); gone when the study ends (the top trials follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.running = ""
        self._live = Live(console=output.console, get_renderable=self._render,
                          refresh_per_second=4, transient=True)

    def __enter__(self) -> "LiveLine":
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        super().trial_started(number, params)
        self.running = f"trial {number}: {output.params_text(params)}"

    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None:
        super().epoch_ended(number, metrics)
        shown = (f": {self.metric} {output.number(metrics[self.metric])}"
                 if self.metric in metrics else "")
        self.running = f"trial {number} epoch {output.number(metrics['epoch'])}{shown}"

    def trial_finished(self, number: int, state: str, value: float | None) -> None:
        super().trial_finished(number, state, value)
        self._live.refresh()   # each finished trial shows at once

    def _render(self) -> str:
        if not self.study:
            return "starting"
        counts = self.counts
        return (f"[bold]{escape(self.study)}[/]: {self.of_queued()} trials, {self.timing()} | "
                f"{counts['completed']} completed, {counts['pruned']} pruned, "
                f"{counts['failed']} failed | {escape(self.best_so_far())} | {self.epochs} "
                f"{self.unit} trained\n{escape(self.running)}")


class TrialLines(Progress):
    """Off a terminal: a line when the worker starts, then one per finished trial."""

    def planned(self, queued: int, spec) -> None:
        super().planned(queued, spec)
        output.progress_line(f"{self.study}: {queued} trials queued; a line per finished "
                             f"trial follows")

    def trial_finished(self, number: int, state: str, value: float | None) -> None:
        super().trial_finished(number, state, value)
        shown = f" {self.metric} {output.number(value)}," if value is not None else ""
        output.progress_line(
            f"[{self.of_queued()}] trial {number} {state}:{shown} "
            f"{self.trial_epochs.get(number, 0)} {self.unit} | {self.best_so_far()} | "
            f"{self.epochs} {self.unit} in all, {self.timing()}")
