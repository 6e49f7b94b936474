"""The label-smoothing question (7.2): what smoothing does to accuracy and to calibration.

Each trial is read at its best epoch (the one its checkpoint keeps); a trial with repeats at
each seed's best epoch, drawn as the mean with an error bar of one standard deviation.
Smoothing trains towards targets of 1 - eps, so it tempers overconfidence; too much of it
leaves the model underconfident, which ECE counts as miscalibration too: the overconfidence
row tells which. Müller et al. (2019) compare smoothing with temperature scaling, so the ECE
row shows it after temperature scaling (fitted on the validation set) beside the raw ECE. The
caption opens with the trade-off found, in one sentence computed from the trials.
"""
from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from torchsweep.sweeps.readout.report.figures import (
    COMPLETED_COLOR,
    FADED,
    HEIGHT,
    PRUNED_COLOR,
    Plot,
    hover_params,
    styled,
)
from torchsweep.sweeps.readout.stats import Interval, interval
from torchsweep.sweeps.readout.trials import TrialRecord, best_epoch, varying
from torchsweep.trainer.goal import Goal

ROWS = (("val_acc", "accuracy"), ("val_ece", "ECE (15 bins)"),
        ("val_overconfidence", "confidence − accuracy"))
TEMPERED = "val_ece_tempered"   # ECE after temperature scaling, drawn in the ECE row
TEMPERED_COLOR = "#ff7f0e"


@dataclass(frozen=True)
class Point:
    """A trial at its best epoch: one row per seed."""
    trial: TrialRecord
    rows: list[dict[str, float]]

    @property
    def smoothing(self) -> float:
        return self.trial.config["label_smoothing"]

    def spread(self, column: str) -> Interval | None:
        values = [row[column] for row in self.rows if row.get(column) is not None]
        return interval(values) if values else None

    def score(self, metric: str) -> Interval:
        """The spread of the study's metric, which every point has (see `points`)."""
        spread = self.spread(metric)
        assert spread is not None, "a point without the study's metric"
        return spread


def varies_label_smoothing(trials: list[TrialRecord]) -> bool:
    return len({t.config.get("label_smoothing") for t in trials if t.config}) > 1


def points(trials: list[TrialRecord], metric: str, goal: Goal) -> list[Point]:
    """Every trial with a validation epoch that has calibration metrics, at its best epochs."""
    found = []
    for trial in trials:
        if not trial.config:
            continue
        rows = [row for row in (best_epoch(h, metric, goal) for h in trial.histories()) if row]
        if rows and "val_ece" in rows[0]:
            found.append(Point(trial, rows))
    return found


def best_per_level(found: list[Point], metric: str, goal: Goal) -> dict[float, Point]:
    """Each smoothing level's best completed trial by the mean of its seeds' `metric`."""
    best: dict[float, Point] = {}
    for point in found:
        if point.trial.state != "completed":
            continue
        held = best.get(point.smoothing)
        if held is None or goal.better(point.score(metric).mean, held.score(metric).mean):
            best[point.smoothing] = point
    return dict(sorted(best.items()))


def smoothing_plot(trials: list[TrialRecord], metric: str, goal: Goal) -> Plot:
    title = "Accuracy and calibration against label smoothing"
    found = points(trials, metric, goal)
    if not found:
        return Plot("smoothing", title, "No trial has a validation epoch with calibration "
                    "metrics yet.")
    figure = make_subplots(rows=len(ROWS), cols=1, shared_xaxes=True, vertical_spacing=0.06)
    names = varying([p.trial for p in found])
    for completed in (True, False):
        chosen = [p for p in found if (p.trial.state == "completed") == completed]
        for row, (column, label) in enumerate(ROWS, start=1):
            color = COMPLETED_COLOR if completed else PRUNED_COLOR
            figure.add_trace(_series(chosen, column, label, names, color, completed,
                                     "completed" if completed else "pruned (fewer epochs)",
                                     showlegend=row == 1 and bool(chosen)), row=row, col=1)
        tempered = [p for p in chosen if p.spread(TEMPERED) is not None]
        if tempered:
            figure.add_trace(_series(tempered, TEMPERED, "ECE after temperature scaling", names,
                                     TEMPERED_COLOR, completed, "ECE after temperature "
                                     "scaling" + ("" if completed else " (pruned)"),
                                     showlegend=True, symbol="diamond"), row=2, col=1)
    figure.add_hline(y=0, line_dash="dot", line_color="#888888", row=len(ROWS), col=1)
    styled(figure, x_title="", y_title="")  # the shared look; the titles go per row below
    figure.update_layout(height=int(HEIGHT * 1.6))
    figure.update_xaxes(title_text="label smoothing ε", row=len(ROWS), col=1)
    for row, (_, label) in enumerate(ROWS, start=1):
        figure.update_yaxes(title_text=label, row=row, col=1)
    bars = (" Error bars: one standard deviation over a trial's seeds (repeats)."
            if any(len(p.rows) > 1 for p in found) else "")
    return Plot("smoothing", title,
                f"{trade_off(found, metric, goal)} Each trial at its best epoch: validation "
                "accuracy, expected calibration error (15 equal-width confidence bins; orange "
                "diamonds: after temperature scaling, fitted on the validation set) and mean "
                "confidence minus accuracy, against the smoothing ε it trained with. Above the "
                "dotted zero line the model is overconfident, below it underconfident; faded "
                f"crosses are pruned trials, read after fewer epochs.{bars}", figure)


def trade_off(found: list[Point], metric: str, goal: Goal) -> str:
    """The trade-off in one sentence: the best smoothing with its interval, and what it did to
    accuracy and calibration against no smoothing (or the smallest ε tried)."""
    best = best_per_level(found, metric, goal)
    if not best:
        return "No trial completed, so no smoothing level can be named best yet."
    winner = goal.best(best.values(), key=lambda p: p.score(metric).mean)
    score = winner.score(metric)
    interval_text = (f"{score.text()} (95% t interval over {score.n} seeds)" if score.n > 1
                     else f"{score.mean:.4g} (one seed, so no interval: --repeats N gives one)")
    said = f"Best smoothing ε = {winner.smoothing:.3g}: {metric} {interval_text}"
    others = [p for level, p in best.items() if level != winner.smoothing]
    if not others:
        return f"{said}; it is the only smoothing level that completed."
    base = others[0]   # no smoothing, or the smallest ε tried besides the best
    change = []
    for column, label in (("val_acc", "accuracy"), ("val_ece", "ECE"),
                          (TEMPERED, "ECE after temperature scaling")):
        ours, theirs = winner.spread(column), base.spread(column)
        if ours is not None and theirs is not None:
            change.append(f"{label} {theirs.mean:.3g} → {ours.mean:.3g}")
    return f"{said}; against ε = {base.smoothing:.3g}: {', '.join(change)}."


def _series(chosen: list[Point], column: str, label: str, names: list[str], color: str,
            completed: bool, name: str, *, showlegend: bool, symbol: str | None = None):
    spreads = [p.spread(column) for p in chosen]
    kept = [(p, s) for p, s in zip(chosen, spreads) if s is not None]
    bars = [s.std for _, s in kept]
    return go.Scatter(
        x=[p.smoothing for p, _ in kept], y=[s.mean for _, s in kept], mode="markers",
        name=name, legendgroup=name, showlegend=showlegend,
        opacity=1.0 if completed else FADED,
        error_y=dict(type="data", array=bars, visible=any(bars)),
        marker=dict(size=9, color=color,
                    symbol=symbol or ("circle" if completed else "x")),
        text=[f"trial {p.trial.number}, epoch {p.rows[0]['epoch']}"
              f"{f', {len(p.rows)} seeds' if len(p.rows) > 1 else ''}<br>"
              f"{hover_params(p.trial.params, names)}" for p, _ in kept],
        hovertemplate=f"%{{text}}<br>{label} %{{y:.4g}}<extra></extra>")

