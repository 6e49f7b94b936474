"""The batch-size question (7.1): how many steps, and how much time, each batch size needs to
reach the target, with its own best learning rate, and where bigger batches stop paying.

Each batch size is judged by its best trial (the fewest steps to the target): a batch size is
only as good as the learning rate it was given, and the search tried several. A trial with
repeats counts the mean over its seeds that reached the target, drawn with an error bar of one
standard deviation. Shallue et al. (2019) compare batch sizes only with the learning rate tuned
for each: the caption says whether this study did (`lr_tuning`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from torchsweep.sweeps.readout.report.critical_batch import CriticalBatchFit, fit_critical_batch
from torchsweep.sweeps.readout.report.figures import FADED, PRUNED_COLOR, Plot, comparison, styled
from torchsweep.sweeps.readout.report.noise_scale_plot import noise_scale_plot
from torchsweep.sweeps.readout.report.to_target import to_target
from torchsweep.sweeps.readout.stats import interval
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.goal import Goal

METHOD = ("The critical batch size comes from fitting the fewest steps per batch size to "
          "S(B) = S_min·(1 + B_crit/B) (McCandlish et al. 2018): well below B_crit doubling "
          "the batch halves the steps, well above it the steps stay near S_min.")


@dataclass(frozen=True)
class Reached:
    """One trial that reached the target, and what it took."""
    trial: int
    state: str
    batch_size: int
    lr: float          # the learning rate it trained with, after any scaling with batch size
    steps: float       # with repeats: the mean over the seeds that reached the target
    seconds: float
    steps_std: float | None = None   # over those seeds; None for one seed
    seeds: str = ""                  # "k of N seeds" with repeats, for the hover


def varies_batch_size(trials: list[TrialRecord]) -> bool:
    return len({t.config.get("batch_size") for t in trials if t.config}) > 1


def batch_size_plots(trials: list[TrialRecord], metric: str, goal: Goal,
                     target: float) -> list[Plot]:
    reached = _reached(trials, metric, goal, target)
    aim = f"{metric} {comparison(goal)} {target:.4g}"
    tried = sorted({t.config["batch_size"] for t in trials if t.config})
    missing = sorted(set(tried) - {r.batch_size for r in reached})
    if not reached:
        return [Plot("batch-steps", "Steps to target against batch size",
                     f"No trial reached {aim}, so there is nothing to compare: pass a lower "
                     "--target, or run more trials.", finding=f"no trial reached {aim}")]
    not_reached = (f" Batch sizes where no trial reached it (pruned first, or too few steps in "
                   f"the epochs given): {', '.join(map(str, missing))}." if missing else "")
    fewest_steps = _best_per_batch_size(reached, key=lambda r: r.steps)
    fewest_seconds = _best_per_batch_size(reached, key=lambda r: r.seconds)
    fit = fit_critical_batch([r.batch_size for r in fewest_steps],
                             [r.steps for r in fewest_steps])
    steps_plot, verdict = _steps_plot(reached, fewest_steps, tried, missing, fit)
    bars = (" Error bars: one standard deviation over a trial's seeds (repeats)."
            if any(r.steps_std is not None for r in fewest_steps) else "")
    steps_by_size = ", ".join(f"{r.batch_size}: {r.steps:.0f}" for r in fewest_steps)
    unreached = f" (none reached it at {', '.join(map(str, missing))})" if missing else ""
    return [
        Plot("batch-steps", f"Steps to reach {aim} against batch size",
             f"Each batch size's fewest optimizer steps to the target (line; faded dots: every "
             f"trial that reached it), log-log, read at each evaluation (evaluations_per_epoch). "
             f"{METHOD} Here: {verdict}.{not_reached}{bars} {lr_tuning(trials)}",
             steps_plot, finding=f"fewest steps to {aim} by batch size: {steps_by_size}"
                                 f"{unreached}; {verdict}"),
        noise_scale_plot(trials, fit, metric, goal, target),
        Plot("batch-time", f"Time to reach {aim} against batch size",
             "Each batch size's shortest training time to the target (line; faded dots: every "
             "trial that reached it), log-log: a bigger batch saves time only while the steps "
             "it saves outweigh the longer time each of its steps takes.",
             _time_plot(reached, fewest_seconds, tried)),
        Plot("batch-lr", "Best learning rate per batch size",
             "The learning rate (after scaling with the batch size) of each batch size's "
             "fewest-steps trial, log-log: a slope of 1 is the linear scaling rule, 1/2 the "
             "square-root rule.", _lr_plot(fewest_steps, tried)),
    ]


def lr_tuning(trials: list[TrialRecord]) -> str:
    """Whether the learning rate was tuned per batch size, from the trials that ran."""
    tried: dict[int, set[float]] = {}
    for trial in trials:
        if trial.config and trial.epochs:
            tried.setdefault(trial.config["batch_size"], set()).add(trial.config.get("lr"))
    if not tried:
        return ""
    fewest = min(tried, key=lambda size: (len(tried[size]), size))
    counts = sorted(len(lrs) for lrs in tried.values())
    if counts[0] >= 2:
        return (f"The learning rate was tuned per batch size ({counts[0]} to {counts[-1]} "
                "learning rates tried at each), so the batch sizes compare fairly (Shallue et "
                "al. 2019).")
    return (f"The learning rate was not tuned per batch size (batch size {fewest} tried only "
            f"lr {next(iter(tried[fewest])):.3g}): Shallue et al. (2019) show batch sizes "
            "compare fairly only when each gets its own best learning rate, so search lr "
            "together with batch_size before trusting this curve.")


def _reached(trials: list[TrialRecord], metric: str, goal: Goal,
             target: float) -> list[Reached]:
    found = []
    for trial in trials:
        histories = _rows_to_search(trial)
        hits = [hit for hit in (to_target(h, metric, target, goal) for h in histories) if hit]
        if not hits:
            continue
        config = TrainConfig.from_dict(trial.config)
        steps = interval([hit["steps"] for hit in hits])
        found.append(Reached(
            trial.number, trial.state, config.batch_size, config.effective_lr, steps.mean,
            interval([hit["wall_seconds"] for hit in hits]).mean,
            steps.std if len(histories) > 1 else None,
            f", {len(hits)} of {len(histories)} seeds" if len(histories) > 1 else ""))
    return found


def _rows_to_search(trial: TrialRecord) -> list[list[dict[str, float]]]:
    """Each seed's rows to find the target in. A single seed: every evaluation, within epochs
    too, so a batch of 16 (hundreds of steps an epoch) is not read up to an epoch late. With
    repeats, every seed's epochs (the other seeds keep only those), for the same resolution."""
    if not trial.config:
        return []
    if trial.evaluations and not trial.seed_epochs:
        return [trial.evaluations]
    return trial.histories()


def _best_per_batch_size(reached: list[Reached], key) -> list[Reached]:
    best: dict[int, Reached] = {}
    for r in reached:
        if r.batch_size not in best or key(r) < key(best[r.batch_size]):
            best[r.batch_size] = r
    return [best[size] for size in sorted(best)]


def _every_trial(reached: list[Reached], y) -> go.Scatter:
    return go.Scatter(x=[r.batch_size for r in reached], y=[y(r) for r in reached],
                      mode="markers", name="every trial that reached it", opacity=FADED,
                      marker=dict(color=PRUNED_COLOR, size=8),
                      text=[f"trial {r.trial} ({r.state}), lr {r.lr:.3g}{r.seeds}"
                            for r in reached],
                      hovertemplate="%{text}<br>batch %{x}: %{y:.4g}<extra></extra>")


def _best_line(best: list[Reached], y, name: str, spread=None) -> go.Scatter:
    # Drawn where a trial has repeats, also when its seeds reached the target at one epoch.
    bars = [spread(r) for r in best] if spread else []
    return go.Scatter(x=[r.batch_size for r in best], y=[y(r) for r in best],
                      mode="lines+markers", name=name, marker=dict(size=10),
                      error_y=dict(type="data", array=[bar or 0.0 for bar in bars],
                                   visible=any(bar is not None for bar in bars)),
                      text=[f"trial {r.trial}, lr {r.lr:.3g}{r.seeds}" for r in best],
                      hovertemplate="batch %{x}: %{y:.4g}<br>%{text}<extra></extra>")


def _steps_plot(reached: list[Reached], best: list[Reached], tried: list[int],
                missing: list[int], fit: CriticalBatchFit | None) -> tuple[go.Figure, str]:
    figure = go.Figure([_every_trial(reached, lambda r: r.steps),
                        _best_line(best, lambda r: r.steps, "fewest steps",
                                   spread=lambda r: r.steps_std)])
    steps = [r.steps for r in best]
    low, high = min(steps) / 1.5, max(r.steps for r in reached) * 1.5
    span = np.geomspace(min(tried) / 1.3, max(tried) * 1.3, 60)
    smallest = best[0]
    figure.add_trace(go.Scatter(
        x=span, y=smallest.steps * smallest.batch_size / span, mode="lines",
        name="perfect scaling (steps ∝ 1/B)", line=dict(color="#bbbbbb", dash="dot"),
        hoverinfo="skip"))
    if missing:
        figure.add_trace(go.Scatter(
            x=missing, y=[high] * len(missing), mode="markers", name="no trial reached it",
            marker=dict(symbol="x", size=10, color=PRUNED_COLOR),
            hovertemplate="batch %{x}: no trial reached the target<extra></extra>"))
    if fit is None:
        verdict = (f"only {len(best)} batch size{'s' if len(best) != 1 else ''} reached the "
                   "target; the fit needs at least three")
        return _steps_axes(figure, tried, low, high), verdict
    figure.add_trace(go.Scatter(x=span, y=[fit.steps(b) for b in span], mode="lines",
                                name="fit S_min·(1 + B_crit/B)",
                                line=dict(color="black", dash="dash"), hoverinfo="skip"))
    if fit.critical_batch_size is not None:
        figure.add_trace(go.Scatter(
            x=[fit.critical_batch_size] * 2, y=[min(low, fit.min_steps), high],
            mode="lines+text", name=f"critical batch size ≈ {fit.critical_batch_size:.0f}",
            text=["", f"B_crit ≈ {fit.critical_batch_size:.0f}"], textposition="bottom right",
            line=dict(color="#d62728", width=2), hoverinfo="name"))
    # S_min is 0 when the bend lies above the batch sizes tried: the axis stays on the data.
    floor = min(low, fit.min_steps) if fit.min_steps > 0 else low
    return _steps_axes(figure, tried, floor, high), fit.verdict


def _steps_axes(figure: go.Figure, tried: list[int], low: float, high: float) -> go.Figure:
    # The range of the steps measured: the reference lines run on out of it, not the axis.
    return _log_log(figure, "steps to target", tried).update_yaxes(
        range=[math.log10(low / 1.2), math.log10(high * 1.2)])


def _time_plot(reached: list[Reached], best: list[Reached], tried: list[int]) -> go.Figure:
    figure = go.Figure([_every_trial(reached, lambda r: r.seconds),
                        _best_line(best, lambda r: r.seconds, "shortest time")])
    return _log_log(figure, "seconds to target", tried)


def _lr_plot(best: list[Reached], tried: list[int]) -> go.Figure:
    figure = go.Figure([_best_line(best, lambda r: r.lr, "best learning rate")])
    return _log_log(figure, "learning rate", tried)


def _log_log(figure: go.Figure, y_title: str, tried: list[int]) -> go.Figure:
    styled(figure, x_title="batch size", y_title=y_title, log_x=True, log_y=True)
    # Ticks at the batch sizes tried: powers of two read badly off a decimal log axis.
    return figure.update_xaxes(tickvals=tried, ticktext=[str(b) for b in tried])
