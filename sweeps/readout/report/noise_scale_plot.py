"""The gradient noise scale over training, beside the critical batch size the sweep fitted.

McCandlish et al. (2018) predict the critical batch size from one run: the simple noise scale
B_noise = tr(Σ)/|G|² (the trainer logs it per epoch as `grad_noise_scale`, in samples, from
micro-batch gradient norms, their appendix A). It grows as training goes on, so it is read
where each trial reached the target, and the median over those trials is the estimate set
against the sweep's fit of S(B) = S_min·(1 + B_crit/B), when the sweep can claim one. The two
agree when they are within a factor of 2 (AGREEMENT). It is an estimate: the derivation assumes
plain SGD, and under Adam's per-parameter scaling it is biased, so the page says so.

McCandlish et al. expect it to grow as the loss falls; whether it did here is counted from each
trial's epochs (`trend`), not said beforehand.
"""
from __future__ import annotations

import math
import statistics

import plotly.graph_objects as go

from torchsweep.sweeps.readout.report.batch_answer import Answer
from torchsweep.sweeps.readout.report.figures import FADED, Plot, styled
from torchsweep.sweeps.readout.report.to_target import to_target
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.goal import Goal

COLUMN = "grad_noise_scale"
AGREEMENT = 2.0        # a factor within which the estimate and the fit are said to agree
LOSS = "train_loss"    # the noise scale is the training gradient's: set against its loss
CLEAR = 0.5            # |Spearman's rho| from which a trial's trend counts as one
ADAPTIVE = ("adam", "adamw", "rmsprop", "rprop")   # optimizers that rescale each parameter
CAVEAT = ("It is an estimate: B_noise = tr(Σ)/|G|² (McCandlish et al. 2018, appendix A) "
          "assumes plain SGD, and under Adam and other per-parameter step sizes it is biased.")


def _measured(trial: TrialRecord) -> list[tuple[float, float]]:
    """(epoch, noise scale) for each epoch of the first seed that measured it."""
    return [(m["epoch"], m[COLUMN]) for m in trial.epochs
            if isinstance(m.get(COLUMN), (int, float)) and math.isfinite(m[COLUMN])
            and m[COLUMN] > 0]


def at_target(trial: TrialRecord, metric: str, goal: Goal, target: float) -> float | None:
    """The noise scale of the last epoch measured up to the one that reached the target."""
    hit = to_target(trial.epochs, metric, target, goal)
    if hit is None:
        return None
    before = [value for epoch, value in _measured(trial) if epoch <= hit["epoch"]]
    return before[-1] if before else None


def trend(trials: list[TrialRecord]) -> str:
    """How the noise scale moved as the training loss fell, counted over the trials with three
    or more epochs that measured both: Spearman's rank correlation between the two."""
    from scipy.stats import spearmanr

    grew = fell = flat = 0
    for trial in trials:
        pairs = [(m[LOSS], m[COLUMN]) for m in trial.epochs
                 if isinstance(m.get(COLUMN), (int, float)) and math.isfinite(m[COLUMN])
                 and m[COLUMN] > 0 and isinstance(m.get(LOSS), (int, float))]
        if len(pairs) < 3:
            continue
        rho = spearmanr(*zip(*pairs)).statistic
        if not math.isfinite(rho) or abs(rho) < CLEAR:
            flat += 1
        elif rho < 0:
            grew += 1
        else:
            fell += 1
    counted = grew + fell + flat
    if not counted:
        return ("No trial measured it at three epochs or more, too few to tell how it moves as "
                "the loss falls.")
    rule = (f"Spearman's rank correlation with the training loss ({LOSS}) at or below "
            f"-{CLEAR:g}, at or above {CLEAR:g}, or in between")
    return (f"As the training loss fell it grew in {grew} of {counted} trials with three epochs "
            f"or more, fell in {fell} and showed no clear trend in {flat} ({rule}).")


def noise_scale_plot(trials: list[TrialRecord], answer: Answer | None, metric: str,
                     goal: Goal, target: float) -> Plot:
    title = "Gradient noise scale over training, beside the fitted critical batch size"
    drawn = [(t, _measured(t)) for t in trials if t.config]
    drawn = [(t, points) for t, points in drawn if points]
    if not drawn:
        return Plot("noise-scale", title, f"No trial measured the gradient noise scale "
                    f"({COLUMN} in its metrics.jsonl), so there is no one-run estimate to set "
                    "beside the fit.")
    figure = go.Figure()
    for trial, points in sorted(drawn, key=lambda item: item[0].config["batch_size"]):
        completed = trial.state == "completed"
        figure.add_trace(go.Scatter(
            x=[epoch for epoch, _ in points], y=[value for _, value in points],
            mode="lines+markers", opacity=1.0 if completed else FADED,
            name=f"batch {trial.config['batch_size']} (trial {trial.number})",
            hovertemplate=f"trial {trial.number} ({trial.state})<br>epoch %{{x}}<br>"
                          f"noise scale %{{y:.4g}} samples<extra></extra>"))
    read = [v for v in (at_target(t, metric, goal, target) for t, _ in drawn) if v is not None]
    estimate = statistics.median(read) if read else None
    critical = answer.critical_batch_size if answer is not None else None
    critical = critical if critical is not None and 0 < critical < math.inf else None
    # Reference lines as traces: plotly's hline annotations stretch a log axis out of range.
    epochs = [epoch for _, points in drawn for epoch, _ in points]
    span = [min(epochs), max(epochs)]
    levels = [value for _, points in drawn for _, value in points]
    for level, name, dash, color in ((estimate, "noise scale at the target", "dot", "#555555"),
                                     (critical, "fitted B_crit", "dash", "#d62728")):
        if level is not None:
            levels.append(level)
            figure.add_trace(go.Scatter(x=span, y=[level, level], mode="lines",
                                        name=f"{name} ≈ {level:.0f}", hoverinfo="name",
                                        line=dict(dash=dash, color=color, width=2)))
    optimizers = sorted({t.config.get("optimizer", "sgd") for t, _ in drawn})
    adaptive = [name for name in optimizers if name in ADAPTIVE]
    bias = (f" This study trained with {', '.join(adaptive)}: read the estimate as a rough "
            "guide only." if adaptive else "")
    return Plot("noise-scale", title,
                f"Each trial's gradient noise scale ({COLUMN}, in samples) at every epoch, "
                f"log scale. {trend([t for t, _ in drawn])} "
                f"{verdict(estimate, len(read), answer)} "
                f"{CAVEAT}{bias}",
                styled(figure, x_title="epoch", y_title="gradient noise scale (samples)",
                       log_y=True).update_yaxes(range=[math.log10(min(levels) / 1.5),
                                                       math.log10(max(levels) * 1.5)])
                .update_xaxes(dtick=1))


def verdict(estimate: float | None, trials: int, answer: Answer | None) -> str:
    """Whether the one-run estimate and the sweep's fitted critical batch size agree."""
    if estimate is None:
        return ("No trial that measured it reached the target, so there is no estimate at the "
                "target to compare.")
    said = (f"At the target the noise scale was ≈ {estimate:.0f} samples (median over "
            f"{trials} trial{'s' if trials != 1 else ''})")
    if answer is None:
        return f"{said}; the sweep has too few batch sizes at the target to fit B_crit."
    critical = answer.critical_batch_size
    if critical is None or not 0 < critical < math.inf:
        return (f"{said}; the sweep claims no B_crit inside the batch sizes tried "
                f"({answer.verdict}).")
    ratio = max(estimate, critical) / min(estimate, critical)
    agree = "agree" if ratio <= AGREEMENT else "do not agree"
    return (f"{said}, the sweep's fitted critical batch size ≈ {critical:.0f}: "
            f"they {agree} (a factor of {ratio:.1f} apart; within {AGREEMENT:g} counts as "
            "agreement).")
