"""Reliability diagrams: for the best trial at each label-smoothing level, its validation
accuracy against its confidence, bin by bin, at its best epoch.

ECE sums a reliability diagram into one number; the diagram shows where the gap is. A point
below the diagonal is a bin the model is overconfident in, above it underconfident. The bins
come from the trial's `best_reliability` attribute (the trainer's 15 equal-width bins, of the
trial's first seed: the model its checkpoint keeps); empty bins are left out.
"""
from __future__ import annotations

import plotly.graph_objects as go

from torchsweep.sweeps.readout.report.figures import Plot, styled
from torchsweep.sweeps.readout.report.smoothing_plots import best_per_level, points
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.goal import Goal


def reliability_plot(trials: list[TrialRecord], metric: str, goal: Goal) -> Plot:
    title = "Reliability diagram of the best trial at each smoothing level"
    best = best_per_level(points(trials, metric, goal), metric, goal)
    drawn = {level: point.trial for level, point in best.items() if point.trial.reliability}
    if not drawn:
        return Plot("reliability", title, "No completed trial recorded its reliability diagram "
                    "(best_reliability): trials trained before this version of sweep do not.")
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                                  line=dict(color="#888888", dash="dot"), hoverinfo="skip"))
    for level, trial in drawn.items():
        bins = trial.reliability
        if bins is None:   # not drawn (see `drawn`)
            continue
        kept = [(c, a, n) for c, a, n in zip(bins["confidence"], bins["accuracy"],
                                             bins["count"])
                if n and c is not None and a is not None]
        figure.add_trace(go.Scatter(
            x=[c for c, _, _ in kept], y=[a for _, a, _ in kept], mode="lines+markers",
            name=f"ε = {level:.3g} (trial {trial.number})",
            customdata=[n for _, _, n in kept],
            hovertemplate=(f"ε = {level:.3g}, trial {trial.number}<br>confidence %{{x:.3f}}<br>"
                           "accuracy %{y:.3f}<br>%{customdata:.0f} samples<extra></extra>")))
    styled(figure, x_title="mean confidence in the bin", y_title="accuracy in the bin")
    figure.update_xaxes(range=[0, 1.02])
    figure.update_yaxes(range=[0, 1.02])
    return Plot("reliability", title,
                "Each smoothing level's best completed trial at its best epoch: the validation "
                "samples binned by the model's confidence (15 equal-width bins), each bin's "
                "accuracy against its mean confidence. On the dotted diagonal the model is "
                "calibrated; below it overconfident (the usual state without smoothing), above "
                "it underconfident (too much smoothing).", figure)
