"""Studies of known numbers, stored through Optuna's public API the way `sweep run` stores
them (our trial attributes, each trial's metrics.jsonl and evaluations.jsonl), for the report's
statistics to be tested through the real `sweep report` and `sweep show`: the statistics are
the unit under test there, not the trainer."""
from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState, create_trial

METRIC = "val_acc"
SAMPLES = 3200          # a training split's size: an epoch is SAMPLES / batch_size steps
BELOW, ABOVE = 0.5, 0.95   # val_acc before and from the step a trial reaches the target


@dataclass
class Stored:
    """One trial: where it reached the target (None: never), and how it ran."""
    batch_size: int
    lr: float
    steps: float | None                  # the step of its first evaluation at ABOVE
    state: str = "completed"
    pruned_at: float | None = None       # epochs, for a pruned trial
    spacing: float = 16.0                # steps between two evaluations
    evaluations: int = 40
    seeds: list[float | None] = field(default_factory=list)   # the other seeds' steps
    curve: list[float] | None = None     # val_acc at each evaluation, instead of BELOW/ABOVE
    noise: list[float] | None = None     # grad_noise_scale per epoch row (loss falls)


def store(root: Path, name: str, trials: list[Stored]) -> None:
    storage = JournalStorage(JournalFileBackend(str(root / "optuna.journal")))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("spec", {"name": name, "metric": {"name": METRIC, "goal": "maximize"}})
    for number, trial in enumerate(trials):
        folder = f"{name}/trials/{number:05d}"
        curve = _write(root / folder, trial, trial.steps)
        attrs = {"config": {"batch_size": trial.batch_size, "lr": trial.lr},
                 "params": {"batch_size": trial.batch_size, "lr": trial.lr}, "dir": folder,
                 "summary": {"pruned_at": trial.pruned_at, "epochs_run": len(curve)}}
        if trial.seeds:
            dirs = [folder] + [f"{folder}/seeds/{k}" for k in range(1, len(trial.seeds) + 1)]
            values = [max(curve)] + [max(_write(root / d, trial, s)) for d, s in
                                     zip(dirs[1:], trial.seeds)]
            attrs["repeats"] = {"seeds": list(range(len(dirs))), "dirs": dirs,
                                "values": {METRIC: values}, "planned": len(dirs)}
        state = TrialState.COMPLETE if trial.state == "completed" else TrialState.PRUNED
        study.add_trial(create_trial(
            state=state, value=max(curve) if state == TrialState.COMPLETE else None,
            params={"batch_size": trial.batch_size, "lr": trial.lr},
            distributions={"batch_size": CategoricalDistribution([16, 32, 64, 128, 256, 512]),
                           "lr": FloatDistribution(1e-3, 1.0, log=True)},
            user_attrs=attrs,
            intermediate_values={} if trial.seeds else {
                int((k + 1) * trial.spacing * trial.batch_size): v
                for k, v in enumerate(curve)}))


def _write(folder: Path, trial: Stored, steps: float | None) -> list[float]:
    """Its evaluations.jsonl and metrics.jsonl (two evaluations an epoch); its curve."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(trial.curve) if trial.curve else trial.evaluations
    curve = trial.curve or [ABOVE if steps is not None and (k + 1) * trial.spacing >= steps
                            else BELOW for k in range(count)]
    rows = []
    for k, value in enumerate(curve):
        at = (k + 1) * trial.spacing
        rows.append({"epoch": at * trial.batch_size / SAMPLES, "steps": at,
                     "samples": at * trial.batch_size, "samples_seen": at * trial.batch_size,
                     "wall_seconds": at / 100, METRIC: value})
    epochs = [dict(row, epoch=index + 1, train_loss=1.0 / (index + 1))
              for index, row in enumerate(rows[1::2])]
    for row, noise in zip(epochs, trial.noise or []):
        row["grad_noise_scale"] = noise
    (folder / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    return curve


def plotted(page: str, slug: str) -> list[dict]:
    """The traces of one figure on a report page, as plotly.js receives them (typed arrays
    decoded)."""
    call = re.search(rf'Plotly\.newPlot\(\s*"{re.escape(slug)}",\s*', page)
    assert call, f"no figure {slug!r} on the page"
    traces, _ = json.JSONDecoder().raw_decode(page, call.end())
    return [{key: _decoded(value) for key, value in trace.items()} for trace in traces]


def _decoded(value):
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return value


def caption(page: str, title_part: str) -> str:
    """The caption under the plot whose title holds `title_part`, as text."""
    match = re.search(rf"<h3>[^<]*{re.escape(title_part)}[^<]*</h3><p>(.*?)</p>", page, re.S)
    assert match, f"no plot titled {title_part!r}"
    return html.unescape(match.group(1))
