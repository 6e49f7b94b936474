"""`sweep report`: what a study found, as one HTML page that opens anywhere, offline.

The page embeds plotly.js itself (no CDN), so it works on a laptop without network and can
be mailed around. It leads with the answer to the study's question when it has one (a study
that varies batch_size gets the steps-to-target analysis and the gradient noise scale, one that
varies label_smoothing the calibration plot and reliability diagrams; error bars where trials
have repeats), then shows the search (Optuna's history, importances, parallel coordinates
and slices) and every trial's learning curve. Reads the storage and the trials' metrics.jsonl
files; never imports torch.
"""
from __future__ import annotations

import datetime
import html
from dataclasses import dataclass
from pathlib import Path

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.report.batch_size_plots import batch_size_plots, varies_batch_size
from torchsweep.sweeps.readout.report.figures import Plot, comparison
from torchsweep.sweeps.readout.report.reliability_plot import reliability_plot
from torchsweep.sweeps.readout.report.smoothing_plots import smoothing_plot, varies_label_smoothing
from torchsweep.sweeps.readout.report.study_plots import learning_curves, search_plots
from torchsweep.sweeps.readout.report.to_target import NEAR_BEST_MARGIN, near_best_target
from torchsweep.sweeps.readout.trials import TrialRecord, goal, records
from torchsweep.trainer.atomic import write_text_atomic
from torchsweep.trainer.files import PICTURE
from torchsweep.trainer.goal import Goal

REPORT_FILE = "report.html"   # under <root>/<study>/ unless -o says otherwise


@dataclass(frozen=True)
class Section:
    title: str
    plots: list[Plot]


@dataclass(frozen=True)
class Report:
    study: str
    metric: str
    goal: Goal
    target: float | None
    target_source: str        # where the target came from, said on the page
    counts: dict[str, int]    # trials per state
    sections: list[Section]

    @property
    def plots(self) -> list[Plot]:
        return [plot for section in self.sections for plot in section.plots]


def build_report(study: optuna.Study, root: Path, target: float | None = None) -> Report:
    """Everything the page shows. `target` overrides the study's metric.target."""
    # A study without a metric (W&B allows one) draws its trials under Optuna's word.
    metric, aim = attrs.metric_name(study) or "value", goal(study)
    trials = records(study, root)
    target, source = resolve_target(study, trials, metric, aim, target)
    answer: list[Plot] = []
    if target is not None and varies_batch_size(trials):
        answer += batch_size_plots(trials, metric, aim, target)
    if varies_label_smoothing(trials):
        answer += [smoothing_plot(trials, metric, aim), reliability_plot(trials, metric, aim)]
    sections = [Section("The answer", answer)] if answer else []
    curves = learning_curves(trials, metric, aim, target, attrs.runs_program(study))
    sections += [Section("Every trial", [curves]),
                 Section("The search", search_plots(study, metric)),
                 Section("The model", [_model_picture(Path(root) / study.study_name)])]
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return Report(study.study_name, metric, aim, target, source, counts, sections)


def resolve_target(study: optuna.Study, trials: list[TrialRecord], metric: str, goal: Goal,
                    given: float | None) -> tuple[float | None, str]:
    if given is not None:
        return given, "--target"
    spec_target = attrs.metric_target(study)
    if spec_target is not None:
        return float(spec_target), "the study's metric.target"
    values = [m[metric] for trial in trials for m in trial.epochs if metric in m]
    if not values:
        return None, "none: no epoch has finished yet"
    best = goal.best(values)
    return near_best_target(best, goal), (
        f"{NEAR_BEST_MARGIN:.0%} short of the best {metric} any trial reached, as the study "
        "sets no metric.target; pass --target to choose another")


def _model_picture(folder: Path) -> Plot:
    """The best model's autograd graph, drawn when the study was last exported."""
    title = "The best model"
    try:
        svg = (folder / PICTURE).read_text(encoding="utf-8")
    except OSError:
        return Plot("model", title, "Not drawn yet: `sweep best STUDY --export DIR` draws the "
                    "best trial's model (torchviz and Graphviz) and this page shows it.")
    # Inline SVG: the XML declaration and doctype of a standalone file do not belong in HTML.
    svg = svg[svg.index("<svg"):]
    return Plot("model", title, "Its autograd graph as exported: every operation of one "
                "forward pass and every weight, named as in the state dict, with its shape.",
                svg=svg)


def write_html(report: Report, path: Path) -> Path:
    import plotly.io
    from plotly.offline import get_plotlyjs

    body = []
    for section in report.sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for plot in section.plots:
            body.append(f'<section class="plot"><h3>{html.escape(plot.title)}</h3>'
                        f"<p>{html.escape(plot.caption)}</p>")
            if plot.figure is not None:
                body.append(plotly.io.to_html(
                    plot.figure, full_html=False, include_plotlyjs=False, div_id=plot.slug,
                    config={"displaylogo": False, "responsive": True}))
            elif plot.svg is not None:
                body.append(f'<div class="picture" id="{plot.slug}">{plot.svg}</div>')
            body.append("</section>")
    counts = ", ".join(f"{n} {state}" for state, n in sorted(report.counts.items()))
    aim = (f"{report.metric} {comparison(report.goal)} {report.target:.4g}"
           if report.target is not None else "none")
    page = _PAGE.format(
        title=html.escape(f"{report.study}: sweep report"), study=html.escape(report.study),
        summary=html.escape(f"{sum(report.counts.values())} trials ({counts}); "
                            f"{report.goal} {report.metric}"),
        target=html.escape(f"{aim} ({report.target_source})"),
        made=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        plotly=get_plotlyjs(), body="\n".join(body))
    write_text_atomic(Path(path), page)
    return Path(path)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }}
section.plot p {{ color: #444; max-width: 60em; }}
.meta {{ color: #555; }}
</style>
<script type="text/javascript">{plotly}</script>
</head><body>
<h1>{study}</h1>
<p class="meta">{summary}<br>target: {target}<br>made {made} by <code>sweep report</code></p>
{body}
</body></html>
"""
