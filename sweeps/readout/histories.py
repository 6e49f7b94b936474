"""Every trial of a study with its per-epoch history, as the report draws them.

The history is the trial's `metrics.jsonl` under the root (the folder the objective recorded
on the trial), not Optuna's intermediate values: those hold the study metric only, and a
learning curve or a calibration plot needs every column. Torch-free.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from torchsweep.sweeps.engine.objective import CONFIG_ATTR, PARAMS_ATTR
from torchsweep.sweeps.readout.trials import STATE_NAMES
from torchsweep.sweeps.engine.retention import TRIAL_DIR_ATTR
from torchsweep.trainer.files import METRICS


@dataclass(frozen=True)
class TrialHistory:
    number: int
    state: str                       # completed | pruned | failed | running | waiting
    params: dict[str, Any]           # the sampled values, as the trainer took them
    config: dict[str, Any]           # the resolved training config
    epochs: list[dict[str, float]] = field(default_factory=list)  # metrics.jsonl, in order

    def best_epoch(self, metric: str, goal: str) -> dict[str, float] | None:
        """The epoch with the best value of `metric` (the first of equals), None if none ran."""
        scored = [m for m in self.epochs if metric in m]
        if not scored:
            return None
        pick = max if goal == "maximize" else min
        return pick(scored, key=lambda m: m[metric])


def varying(histories: list[TrialHistory]) -> list[str]:
    """Parameters whose value differs between trials: the fixed ones would only add noise."""
    names = list(dict.fromkeys(name for h in histories for name in h.params))
    return [name for name in names if len({repr(h.params.get(name)) for h in histories}) > 1]


def load_histories(study: optuna.Study, root: Path) -> list[TrialHistory]:
    """Trials in number order; a trial whose metrics file is gone has an empty history."""
    return [TrialHistory(number=trial.number,
                         state=STATE_NAMES.get(trial.state, trial.state.name.lower()),
                         params=trial.user_attrs.get(PARAMS_ATTR, trial.params),
                         config=trial.user_attrs.get(CONFIG_ATTR, {}),
                         epochs=_read_metrics(root, trial.user_attrs.get(TRIAL_DIR_ATTR)))
            for trial in study.get_trials(deepcopy=False)]


def _read_metrics(root: Path, folder: str | None) -> list[dict[str, float]]:
    if folder is None:
        return []
    path = Path(root) / folder / METRICS
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    # A trial still running may be mid-way through writing its last line.
    epochs = []
    for line in lines:
        try:
            epochs.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return epochs
