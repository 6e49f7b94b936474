"""What the report is made of: plots with a title and a caption that says how to read them.

A `Plot` without a figure is a note in its place: the page says why that plot is missing
(too few trials, no trial reached the target) instead of showing an empty frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchsweep.trainer.goal import Goal

HEIGHT = 460            # pixels; the width follows the page
FADED = 0.3             # opacity of pruned trials: there to see, not to read first
PRUNED_COLOR = "#8c8c8c"
COMPLETED_COLOR = "#1f77b4"  # plotly's first colour, kept for one kind of point across panels


@dataclass(frozen=True)
class Plot:
    slug: str            # the element id on the page and the PNG's file name
    title: str
    caption: str         # one or two sentences: what is drawn and how to read it
    figure: Any = None   # a plotly Figure; None makes the plot a note
    svg: str | None = None   # an image instead of a figure (the model's picture)
    finding: str | None = None   # the answer in one line, which `sweep report` also prints


def styled(figure: Any, *, x_title: str, y_title: str, log_x: bool = False,
           log_y: bool = False) -> Any:
    """One look for every plot the report draws itself."""
    figure.update_layout(template="plotly_white", height=HEIGHT,
                         margin=dict(l=70, r=30, t=30, b=60), hovermode="closest",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    figure.update_xaxes(title_text=x_title, type="log" if log_x else None)
    figure.update_yaxes(title_text=y_title, type="log" if log_y else None)
    return figure


def comparison(goal: Goal) -> str:
    return "≥" if goal is Goal.MAXIMIZE else "≤"


def hover_params(params: dict[str, Any], names: list[str]) -> str:
    """The values of `names`, one per line, for a hover label."""
    values = ((name, params.get(name)) for name in names)
    return "<br>".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                       for name, value in values)
