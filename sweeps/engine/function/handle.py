"""The trial a study gives the user's function: its values, its checkpoint, and where it reports.

`report` is the one call a training loop makes per evaluation: the metrics go to the trial's
W&B run, the study metric to Optuna's pruner, and when the pruner cuts the trial it raises
`Pruned`, which the function lets through (or catches, to tidy up, and raises again). The
checkpoint is the trial folder's last.pt, written atomically through the one checkpoint owner
(trainer/checkpoint.py): a retry of the trial, after its worker died or was stopped, is given
it back by `load_checkpoint`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import heartbeat, outage
from torchsweep.trainer.checkpoint import Checkpoints


class Pruned(Exception):
    """Raised by `Trial.report` when the pruner stops the trial: let it propagate (or raise it
    again after tidying up). The trial ends pruned, its W&B run too, and the study goes on."""


class Trial:
    """One trial of a study, as the user's function gets it.

    Attributes:
        number: the trial's number in the study (a retry has a number of its own).
        params: the values drawn for this trial, nested as the study file nests its groups
            (`params["optim"]["lr"]`), as `wandb.config` has them.
        folder: the trial's own folder (a retry's is its first attempt's): save files there,
            and the study keeps it with the top-k trials.
    """

    def __init__(self, *, number: int, params: dict[str, Any], folder: Path, metric: str | None,
                 optuna_trial: Any, log: Callable[[dict[str, Any]], None],
                 prunes: bool) -> None:
        self.number = number
        self.params = params
        self.folder = Path(folder)
        self._metric, self._optuna_trial, self._log, self._prunes = (metric, optuna_trial,
                                                                     log, prunes)
        self._checkpoints = Checkpoints(self.folder)
        self.reported: list[tuple[int, float]] = []   # (step, study metric value)
        self.summary: dict[str, Any] = {}              # the last value of each metric, as W&B's
        self._steps = 0

    def report(self, step: int | None = None, **metrics: float) -> None:
        """Log `metrics` at `step` (default: one more than the last) to the trial's W&B run,
        and the study metric, when among them, to the pruner.

        Raises:
            Pruned: the pruner stopped the trial at this step.
        """
        step = self._steps if step is None else int(step)
        self._steps = step + 1
        self._log({**metrics, "epoch": step})
        self.summary.update(metrics)
        value = metrics.get(self._metric) if self._metric else None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        self.reported.append((step, float(value)))
        if self._prunes and math.isfinite(value) and \
                outage.report(self._optuna_trial, float(value), step):
            raise Pruned(f"pruned at step {step}")

    def save_checkpoint(self, state: Any) -> None:
        """Save `state` (tensors, numbers, strings and containers of them: a model's and an
        optimizer's state_dict, the epoch) as the trial's checkpoint, atomically: a crash
        leaves the previous one whole."""
        heartbeat.hold(self._optuna_trial)   # not when another worker has taken the trial over
        self._checkpoints.save_state(state)

    def load_checkpoint(self) -> Any:
        """The state the trial saved last (a retried trial: its failed attempt's), or None."""
        state = self._checkpoints.load_state()
        if state is not None:   # `sweep show` says where a retry resumed
            epoch = state.get("epoch") if isinstance(state, dict) else None
            attrs.record_resumed_at(self._optuna_trial, epoch if isinstance(epoch, int) else 0)
        return state
