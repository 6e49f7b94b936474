"""The batch-size question (7.1): how many steps, and how much time, each batch size needs to
reach the target, with its own best learning rate, and where bigger batches stop paying.

Each batch size is judged by its best trial (the fewest steps to the target): a batch size is
only as good as the learning rate it was given, and the search tried several. A trial with
repeats counts the mean over its seeds that reached the target, drawn with an error bar of one
standard deviation. The critical batch size comes with its bootstrap interval, and only where
the study can stand by it (batch_answer); the caption gives each batch size's measured steps
over the fit's. Shallue et al. (2019) compare batch sizes only with the learning rate tuned
for each: the caption says whether this study did (`lr_tuning`), counting the learning rates
trained past the pruner's first cut, not every one it started.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from torchsweep.sweeps.readout.report.batch_answer import (
    RESAMPLES,
    Answer,
    Tried,
    critical_batch_answer,
)
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
    hits = {t.number: _hits(t, metric, target, goal) for t in trials if t.config}
    reached = _reached(trials, hits)
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
    answer = critical_batch_answer(_tried(trials, hits))
    steps_plot, verdict = _steps_plot(reached, fewest_steps, tried, missing, answer)
    bars = (" Error bars: one standard deviation over a trial's seeds (repeats)."
            if any(r.steps_std is not None for r in fewest_steps) else "")
    steps_by_size = ", ".join(f"{r.batch_size}: {r.steps:.0f}" for r in fewest_steps)
    unreached = f" (none reached it at {', '.join(map(str, missing))})" if missing else ""
    seeds = any(len(found) > 1 for found in hits.values())
    return [
        Plot("batch-steps", f"Steps to reach {aim} against batch size",
             f"Each batch size's fewest optimizer steps to the target (line; faded dots: every "
             f"trial that reached it), log-log, read at each evaluation (evaluations_per_epoch). "
             f"{METHOD} {_interval_method(seeds)} Here: {verdict}.{_fit_holds(answer)}"
             f"{not_reached}{bars} {lr_tuning(trials)}",
             steps_plot, finding=f"fewest steps to {aim} by batch size: {steps_by_size}"
                                 f"{unreached}; {verdict}"),
        noise_scale_plot(trials, answer, metric, goal, target),
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


def answer_for(trials: list[TrialRecord], metric: str, goal: Goal,
               target: float) -> Answer | None:
    """The critical batch size with its interval, as the page states it (None: fewer than
    three batch sizes reached the target)."""
    hits = {t.number: _hits(t, metric, target, goal) for t in trials if t.config}
    return critical_batch_answer(_tried(trials, hits))


def _interval_method(seeds: bool) -> str:
    which = (", and the seeds of each" if seeds else
             "; with one seed per trial, a trial's own seed noise is not in it (--repeats puts "
             "it in)")
    return (f"Its 95% interval comes from {RESAMPLES} bootstrap resamples of the study: each "
            "batch size's trials that reached the target drawn again with replacement (the "
            f"learning rates it found){which}, each resample fitted anew. A number is given "
            "only when that interval lies within the batch sizes tried and the fewest steps do "
            "not rise with batch size beyond that noise.")


def _fit_holds(answer: Answer | None) -> str:
    """How well the fit holds: each batch size's measured steps over the fitted ones."""
    if answer is None:
        return ""
    ratios = ", ".join(f"{b:.0f}: {ratio:.2f}×" for b, ratio in
                       zip(answer.fit.batch_sizes, answer.fit.ratios()))
    return f" Measured over fitted steps, per batch size: {ratios}."


def lr_tuning(trials: list[TrialRecord]) -> str:
    """Whether the learning rate was tuned per batch size, from the trials that ran. Only the
    learning rates trained past the pruner's first cut count: one stopped there was judged on
    its first epochs alone, where a small learning rate always looks worse."""
    trained = [t for t in trials if t.config and t.epochs]
    if not trained:
        return ""
    cut = first_cut(trained)
    tried: dict[int, set[float | None]] = {}   # lr None: a study that does not set it
    kept: dict[int, set[float | None]] = {}
    for trial in trained:
        size, lr = trial.config["batch_size"], trial.config.get("lr")
        tried.setdefault(size, set()).add(lr)
        if cut is None or _past(trial, cut):
            kept.setdefault(size, set()).add(lr)
    counts = sorted(len(kept.get(size, ())) for size in tried)
    where = f" past the pruner's first cut (epoch {cut:g})" if cut is not None else ""
    if counts[0] >= 2:
        return (f"The learning rate was tuned per batch size: {counts[0]} to {counts[-1]} "
                f"learning rates trained{where} at each, so the batch sizes compare fairly "
                "(Shallue et al. 2019).")
    short = sorted(size for size in tried if len(kept.get(size, ())) < 2)
    one = ", ".join(f"{size} ({_tried_there(kept.get(size, set()), tried[size], cut)})"
                    for size in short)
    return (f"The learning rate was not tuned per batch size: at batch size {one}. "
            "Shallue et al. (2019) show batch sizes compare fairly only when each gets its own "
            "best learning rate, so search more learning rates per batch size before trusting "
            "this curve.")


def _tried_there(kept: set[float | None], tried: set[float | None], cut: float | None) -> str:
    if cut is None:
        return f"only lr {next(iter(tried)):.3g} tried"
    trained = f"lr {next(iter(kept)):.3g} alone" if kept else "no learning rate"
    return (f"{trained} trained past epoch {cut:g}, of {len(tried)} tried; the others were "
            "stopped there")


def first_cut(trials: list[TrialRecord]) -> float | None:
    """The earliest point, in epochs, at which the pruner stopped a trial (None: it stopped
    none). Trials with repeats train whole seeds, so they have no epoch cut."""
    cuts = [t.pruned_at for t in trials if t.state == "pruned" and t.reason is None
            and t.pruned_at is not None and t.repeats is None]
    return min(cuts) if cuts else None


def _past(trial: TrialRecord, cut: float) -> bool:
    if trial.state == "completed" or trial.repeats is not None:
        return True
    if trial.state == "pruned" and trial.pruned_at is not None:
        return trial.pruned_at > cut
    return (trial.epochs_trained or 0.0) > cut


def _hits(trial: TrialRecord, metric: str, target: float,
          goal: Goal) -> list[tuple[dict[str, float] | None, float]]:
    """Each seed's row at the target (None: it never got there), with the steps between two
    of its evaluations (how finely the row was read)."""
    return [(to_target(rows, metric, target, goal), _spacing(rows))
            for rows in _rows_to_search(trial)]


def _spacing(rows: list[dict[str, float]]) -> float:
    steps = [row["steps"] for row in rows if "steps" in row]
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    return float(np.median(gaps)) if gaps else float(steps[0] if steps else 0.0)


def _tried(trials: list[TrialRecord], hits: dict) -> list[Tried]:
    return [Tried(t.config["batch_size"],
                  tuple(hit["steps"] if hit else None for hit, _ in hits[t.number]),
                  max((spacing for _, spacing in hits[t.number]), default=0.0))
            for t in trials if t.config and hits.get(t.number)]


def _reached(trials: list[TrialRecord], hits: dict) -> list[Reached]:
    found = []
    for trial in trials:
        seeds = hits.get(trial.number, [])
        reached = [hit for hit, _ in seeds if hit]
        if not reached:
            continue
        config = TrainConfig.from_dict(trial.config)
        steps = interval([hit["steps"] for hit in reached])
        found.append(Reached(
            trial.number, trial.state, config.batch_size, config.effective_lr, steps.mean,
            interval([hit["wall_seconds"] for hit in reached]).mean,
            steps.std if len(seeds) > 1 else None,
            f", {len(reached)} of {len(seeds)} seeds" if len(seeds) > 1 else ""))
    return found


def _rows_to_search(trial: TrialRecord) -> list[list[dict[str, float]]]:
    """Each seed's rows to find the target in: every evaluation, within epochs too, so a batch
    of 16 (hundreds of steps an epoch) is not read up to an epoch late; a seed's epochs where
    its evaluations were not kept (older versions)."""
    if not trial.config:
        return []
    if trial.evaluations and len(trial.seed_evaluations) == len(trial.seed_epochs) \
            and all(trial.seed_evaluations):
        return [trial.evaluations, *trial.seed_evaluations]
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
                missing: list[int], answer: Answer | None) -> tuple[go.Figure, str]:
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
    if answer is None:
        verdict = (f"only {len(best)} batch size{'s' if len(best) != 1 else ''} reached the "
                   "target; the fit needs at least three")
        return _steps_axes(figure, tried, low, high), verdict
    fit = answer.fit
    figure.data[1].text = [f"{text}<br>fit {fit.steps(r.batch_size):.0f} (measured "
                           f"{r.steps / fit.steps(r.batch_size):.2f}× it)"
                           for text, r in zip(figure.data[1].text, best)]
    figure.add_trace(go.Scatter(x=span, y=[fit.steps(b) for b in span], mode="lines",
                                name="fit S_min·(1 + B_crit/B)",
                                line=dict(color="black", dash="dash"), hoverinfo="skip"))
    critical = answer.critical_batch_size
    if critical is not None and 0 < critical < math.inf:
        top = high
        figure.add_trace(go.Scatter(
            x=[answer.low, answer.high, answer.high, answer.low, answer.low],
            y=[low, low, top, top, low], mode="lines", fill="toself",
            fillcolor="rgba(214, 39, 40, 0.12)", line=dict(width=0),
            name=f"95% interval {answer.low:.0f} to {answer.high:.0f}", hoverinfo="name"))
        figure.add_trace(go.Scatter(
            x=[critical] * 2, y=[min(low, fit.min_steps), high],
            mode="lines+text", name=f"critical batch size ≈ {critical:.0f}",
            text=["", f"B_crit ≈ {critical:.0f}"], textposition="bottom right",
            line=dict(color="#d62728", width=2), hoverinfo="name"))
    # S_min is 0 when the bend lies above the batch sizes tried: the axis stays on the data.
    floor = min(low, fit.min_steps) if fit.min_steps > 0 else low
    return _steps_axes(figure, tried, floor, high), answer.verdict


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
