"""The gradient noise scale over training, beside the critical batch size the sweep fitted.

McCandlish et al. (2018) predict the critical batch size from one run: the simple noise scale
B_noise = tr(Σ)/|G|² (the trainer logs it per epoch as `grad_noise_scale`, in samples, from
micro-batch gradient norms, their appendix A). It grows as training goes on, so it is read
where each trial reached the target, and the median over those trials is the estimate set
against the sweep's fit of S(B) = S_min·(1 + B_crit/B). The two agree when they are within a
factor of 2 (AGREEMENT). It is an estimate: the derivation assumes plain SGD, and under Adam's
per-parameter scaling it is biased, so the page says so.
"""
from __future__ import annotations

import math
import statistics

import plotly.graph_objects as go

from torchsweep.sweeps.readout.report.critical_batch import CriticalBatchFit
from torchsweep.sweeps.readout.report.figures import FADED, Plot, styled
from torchsweep.sweeps.readout.report.to_target import to_target
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.goal import Goal

COLUMN = "grad_noise_scale"
AGREEMENT = 2.0        # a factor within which the estimate and the fit are said to agree
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


def noise_scale_plot(trials: list[TrialRecord], fit: CriticalBatchFit | None, metric: str,
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
    critical = fit.critical_batch_size if fit is not None else None
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
                f"log scale; it grows as the loss falls. {verdict(estimate, len(read), fit)} "
                f"{CAVEAT}{bias}",
                styled(figure, x_title="epoch", y_title="gradient noise scale (samples)",
                       log_y=True).update_yaxes(range=[math.log10(min(levels) / 1.5),
                                                       math.log10(max(levels) * 1.5)])
                .update_xaxes(dtick=1))


def verdict(estimate: float | None, trials: int, fit: CriticalBatchFit | None) -> str:
    """Whether the one-run estimate and the sweep's fitted critical batch size agree."""
    if estimate is None:
        return ("No trial that measured it reached the target, so there is no estimate at the "
                "target to compare.")
    said = (f"At the target the noise scale was ≈ {estimate:.0f} samples (median over "
            f"{trials} trial{'s' if trials != 1 else ''})")
    if fit is None:
        return f"{said}; the sweep has too few batch sizes at the target to fit B_crit."
    if fit.critical_batch_size is None:
        return f"{said}; the fit puts no B_crit inside the batch sizes tried ({fit.verdict})."
    ratio = max(estimate, fit.critical_batch_size) / min(estimate, fit.critical_batch_size)
    agree = "agree" if ratio <= AGREEMENT else "do not agree"
    return (f"{said}, the sweep's fitted critical batch size ≈ {fit.critical_batch_size:.0f}: "
            f"they {agree} (a factor of {ratio:.1f} apart; within {AGREEMENT:g} counts as "
            "agreement).")
