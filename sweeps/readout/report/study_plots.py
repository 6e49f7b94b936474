"""The plots every study gets: Optuna's four views of the search, and every trial's learning
curve with the pruned ones faded."""
from __future__ import annotations

import warnings
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from torchsweep.sweeps.readout.report.figures import (
    FADED,
    PRUNED_COLOR,
    Plot,
    comparison,
    hover_params,
    styled,
)
from torchsweep.sweeps.readout.trials import TrialRecord, is_multi_objective, varying
from torchsweep.trainer.goal import Goal


def search_plots(study: optuna.Study, metric: str) -> list[Plot]:
    import optuna.visualization as views

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        return [Plot("search", "The search", "No trial has completed yet: the optimization "
                     "history, importances, parallel coordinates and slices need one.")]
    # A multi-objective study is viewed by its first objective, beside its Pareto front.
    first: dict[str, Any] = {"target": lambda t: t.values[0]} if is_multi_objective(study) \
        else {}
    plots = [
        *([_pareto_front(study)] if first else []),
        Plot("history", "Optimization history",
             f"Each completed trial's best {metric} in the order the trials ran, and the best "
             "so far: a line that stops rising means more trials of this space add little.",
             views.plot_optimization_history(study, target_name=metric, **first)),
        _importances(study, metric, completed, first),
        Plot("parallel", "Parallel coordinates",
             f"One line per completed trial through its parameter values, coloured by "
             f"{metric}: follow the best-coloured lines to see which values go together.",
             views.plot_parallel_coordinate(study, target_name=metric, **first)),
        Plot("slices", "Slices",
             f"{metric} against each parameter on its own, darker dots for later trials: a "
             "cloud with a clear peak marks a parameter worth tuning.",
             views.plot_slice(study, target_name=metric, **first)),
    ]
    for plot in plots:
        if plot.figure is not None:
            # The page titles each plot; Optuna's own title would only take room.
            plot.figure.update_layout(title=None, template="plotly_white",
                                      margin=dict(t=30, b=60))
    return plots


def _pareto_front(study: optuna.Study) -> Plot:
    import optuna.visualization as views

    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    return Plot("pareto", "Pareto front",
                f"Every completed trial by {' and '.join(names)}; the highlighted ones are "
                "Pareto-optimal: none of the others is better in one metric without being "
                "worse in another. `sweep best` lists them; `--export DIR --trial N` exports one.",
                views.plot_pareto_front(study, target_names=names))


def _importances(study: optuna.Study, metric: str, completed: list, first: dict) -> Plot:
    """PED-ANOVA, the evaluator Optuna's get_param_importances uses by default and the one
    optuna-dashboard runs, so the page and the dashboard show the same bars. (fANOVA, which
    this page used before, fits a random forest to every completed trial's value and measures
    the variance each parameter explains: a different question, with different numbers.)"""
    title = "Parameter importances"
    if len(completed) < 2:
        return Plot("importances", title, "Importances compare completed trials: there is "
                    "only one so far.")
    from optuna.importance import PedAnovaImportanceEvaluator

    if first:
        # PED-ANOVA ranks by low target values; the dashboard negates a maximised objective.
        sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        first = {"target": lambda t: sign * t.values[0]}
    with warnings.catch_warnings():
        # Optuna warns when a parameter took a single value, and that PED-ANOVA ranks a given
        # target by its low values (the sign above sees to it).
        warnings.simplefilter("ignore")
        figure = optuna.visualization.plot_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(), target_name=metric, **first)
    return Plot("importances", title,
                f"How much each parameter's values among the best 10% of completed trials by "
                f"{metric} differ from its values over all of them (PED-ANOVA, Optuna's default "
                "importance evaluator and optuna-dashboard's, so both show these numbers): tune "
                "the long bars, fix the short ones.", figure)


def learning_curves(trials: list[TrialRecord], metric: str, goal: Goal,
                    target: float | None, program: bool) -> Plot:
    """On samples seen, the axis the pruner compares trials on (a program's: its own step)."""
    title = "Learning curves"
    drawn = [t for t in trials if t.evaluations or t.epochs]
    if not drawn:
        return Plot("curves", title, "No trial has been evaluated yet.")
    axis = "step" if program else "samples seen"
    figure = go.Figure()
    shown_pruned = False
    names = varying(drawn)
    for trial in drawn:
        pruned = trial.state != "completed"
        x, y = _curve(trial, metric)
        name = "pruned" if pruned else f"trial {trial.number}"
        if trial.collapsed:
            name, pruned = f"trial {trial.number}, collapsed late", False   # never faded
        figure.add_trace(go.Scatter(
            x=x, y=y,
            mode="lines+markers", name=name,
            legendgroup="pruned" if pruned else None, showlegend=not (pruned and shown_pruned),
            opacity=FADED if pruned else 1.0,
            line=dict(color=PRUNED_COLOR, dash="dot") if pruned else None,
            hovertemplate=(f"trial {trial.number} ({trial.state})<br>{axis} %{{x}}<br>"
                           f"{metric} %{{y:.4g}}"
                           f"<extra>{hover_params(trial.params, names)}</extra>")))
        shown_pruned = shown_pruned or pruned
    if target is not None:
        figure.add_hline(y=target, line_dash="dash", line_color="black",
                         annotation_text=f"target {comparison(goal)} {target:.4g}")
    when = "at every step it reported" if program else (
        "at every evaluation (several per epoch), against the training samples seen: trials of "
        "every batch size line up at equal data, as the pruner compares them")
    return Plot("curves", title,
                f"{metric} of every trial {when}. Solid: completed trials; faded and dotted: "
                "trials the pruner stopped (or that diverged) where their line ends. "
                f"{_collapsed(trials, metric)}",
                styled(figure, x_title=axis, y_title=metric))


def _collapsed(trials: list[TrialRecord], metric: str) -> str:
    """The trials whose metric collapsed late, with the rule that says so."""
    from torchsweep.sweeps.readout.collapse import FAR, rule

    fallen = [(t, t.collapsed) for t in trials if t.collapsed]
    if not fallen:
        return (f"No trial collapsed late (none ended more than {FAR:g} times the study's "
                "median change between two consecutive evaluations short of its best).")
    listed = "; ".join(f"trial {t.number} ({t.state}): best {collapsed['best']:.4g}, last "
                       f"{collapsed['last']:.4g}" for t, collapsed in fallen)
    return (f"Collapsed late, {rule(fallen[0][1]['threshold'], metric)}, and so drawn "
            f"solid whatever their state: {listed}. Their value is still their best "
            "evaluation's (the checkpoint kept).")


def _curve(trial: TrialRecord, metric: str) -> tuple[list[float], list[float | None]]:
    """(x, y): every evaluation at its step in samples; for a trial that has no evaluations
    file (older versions), its epochs at their samples seen; a program's rows at their step."""
    if trial.evaluations:
        rows = [row for row in trial.evaluations if metric in row]
        return [row["samples"] for row in rows], [row[metric] for row in rows]
    return ([m.get("samples_seen", m["epoch"]) for m in trial.epochs],
            [m.get(metric) for m in trial.epochs])

