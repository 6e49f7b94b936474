"""The label-smoothing question (7.2): what smoothing does to accuracy and to calibration.

Each trial is read at its best epoch (the one its checkpoint keeps). Smoothing trains towards
targets of 1 - eps, so it tempers overconfidence; too much of it leaves the model
underconfident, which ECE counts as miscalibration too: the overconfidence row tells which.
"""
from __future__ import annotations

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
from torchsweep.sweeps.readout.trials import TrialRecord, varying

ROWS = (("val_acc", "accuracy"), ("val_ece", "ECE (15 bins)"),
        ("val_overconfidence", "confidence − accuracy"))


def varies_label_smoothing(trials: list[TrialRecord]) -> bool:
    return len({t.config.get("label_smoothing") for t in trials if t.config}) > 1


def smoothing_plot(trials: list[TrialRecord], metric: str, goal: str) -> Plot:
    title = "Accuracy and calibration against label smoothing"
    points = [(t, t.best_epoch(metric, goal)) for t in trials if t.config]
    points = [(t, best) for t, best in points if best is not None and "val_ece" in best]
    if not points:
        return Plot("smoothing", title, "No trial has a validation epoch with calibration "
                    "metrics yet.")
    figure = make_subplots(rows=len(ROWS), cols=1, shared_xaxes=True, vertical_spacing=0.06)
    names = varying([t for t, _ in points])
    for completed in (True, False):
        chosen = [(t, best) for t, best in points if (t.state == "completed") == completed]
        for row, (column, label) in enumerate(ROWS, start=1):
            figure.add_trace(go.Scatter(
                x=[t.config["label_smoothing"] for t, _ in chosen],
                y=[best[column] for _, best in chosen], mode="markers",
                name="completed" if completed else "pruned (fewer epochs)",
                legendgroup=str(completed), showlegend=row == 1 and bool(chosen),
                opacity=1.0 if completed else FADED,
                marker=dict(size=9, color=COMPLETED_COLOR if completed else PRUNED_COLOR,
                            symbol="circle" if completed else "x"),
                text=[f"trial {t.number}, epoch {best['epoch']}<br>"
                      f"{hover_params(t.params, names)}" for t, best in chosen],
                hovertemplate=f"%{{text}}<br>{label} %{{y:.4g}}<extra></extra>"),
                row=row, col=1)
    figure.add_hline(y=0, line_dash="dot", line_color="#888888", row=len(ROWS), col=1)
    styled(figure, x_title="", y_title="")  # the shared look; the titles go per row below
    figure.update_layout(height=int(HEIGHT * 1.6))
    figure.update_xaxes(title_text="label smoothing ε", row=len(ROWS), col=1)
    for row, (_, label) in enumerate(ROWS, start=1):
        figure.update_yaxes(title_text=label, row=row, col=1)
    return Plot("smoothing", title,
                "Each trial at its best epoch: validation accuracy, expected calibration error "
                "(15 equal-width confidence bins) and mean confidence minus accuracy, against "
                "the smoothing ε it trained with. Above the dotted zero line the model is "
                "overconfident, below it underconfident; faded crosses are pruned trials, read "
                "after fewer epochs.", figure)
