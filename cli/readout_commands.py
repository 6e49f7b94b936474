"""Commands that read a study back: `show`, `best`, `report` and `dashboard`."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from torchsweep.cli import output
from torchsweep.cli.parameters import RootOption, StorageOption, StudyName, root
from torchsweep.sweeps.readout.dashboard import DEFAULT_PORT, LOCALHOST

DEFAULT_CONFIRM_SEEDS = 3   # fresh seeds per trial that `sweep best --confirm` trains


app = typer.Typer()


@app.command()
def show(
    study: StudyName,
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every trial of a study: state, params, value, epochs, pruned at, duration."""
    from torchsweep.sweeps import attrs
    from torchsweep.sweeps.readout.trials import (
        is_multi_objective,
        load_study,
        ranked_records,
        records,
    )

    loaded = load_study(study, root(root_), storage)
    trials = records(loaded)
    front = ranked_records(loaded) if is_multi_objective(loaded) else []
    if as_json:
        output.json_object({"study": study, "trials": [t.to_dict() for t in trials],
                             "pareto": [t.number for t in front] if front else None})
    else:
        output.trials_table(study, trials, " / ".join(attrs.metric_names(loaded)) or "value",
                            front=front)
        output.collapsed_note(trials, attrs.metric_name(loaded))


@app.command()
def best(
    study: StudyName,
    export: Optional[Path] = typer.Option(None, "--export", file_okay=False,
                                          help="Write the best model (safetensors; for a "
                                               "program, its trial folder), its config, params "
                                               "and metrics into this folder."),
    trial: Optional[int] = typer.Option(None, "--trial", min=0,
                                        help="With --export: this trial instead of the best "
                                             "(a multi-objective study: one of its Pareto "
                                             "front)."),
    confirm: Optional[int] = typer.Option(None, "--confirm", min=1,
                                          help="Retrain the top K trials on fresh seeds (ones "
                                               "the study never used) and rank them by mean "
                                               "with a 95% interval; --export then exports the "
                                               "confirmed winner."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=2,
                                        show_default=str(DEFAULT_CONFIRM_SEEDS),
                                        help="With --confirm: fresh seeds per trial."),
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial (a multi-objective study: its Pareto front): params, metrics and
    checkpoint; optionally confirm the top ones on fresh seeds, and export."""
    from torchsweep.sweeps import attrs
    from torchsweep.sweeps.errors import ExportError
    from torchsweep.sweeps.readout.trials import is_multi_objective, load_study, ranked_records

    if trial is not None and export is None:
        raise typer.BadParameter("needs --export", param_hint="'--trial'")
    if seeds is not None and confirm is None:
        raise typer.BadParameter("needs --confirm", param_hint="'--seeds'")
    if trial is not None and confirm is not None:
        raise typer.BadParameter("--confirm exports its confirmed winner; leave --trial out",
                                 param_hint="'--trial'")
    folder = root(root_)
    loaded = load_study(study, folder, storage)
    best_first = ranked_records(loaded)
    if not attrs.has_metric(loaded):
        _nothing_to_rank(study, loaded, folder, export is not None or confirm is not None,
                         as_json)
        return
    if not best_first:
        raise ExportError(f"study '{study}' has no completed trial yet")
    front = best_first if is_multi_objective(loaded) else None
    confirmed, winner = None, None
    if confirm is not None:
        from torchsweep.sweeps.engine.confirm import confirm as confirm_top

        confirmed = confirm_top(loaded, folder, confirm, seeds or DEFAULT_CONFIRM_SEEDS)
        winner = confirmed.winner
        if not as_json:
            output.confirmation_table(study, confirmed)
    exported = None
    if export is not None:
        from torchsweep.sweeps.readout.export import export_best

        exported = export_best(loaded, folder, export, winner.trial if winner else trial,
                               confirmed.winner_dict() if confirmed else None)
        if exported.passed_over and not as_json:
            output.notice(f"exported trial {exported.trial}, the best whose checkpoint "
                          f"loads; passed over {'; '.join(exported.passed_over)}")
        if exported.picture_note:
            output.notice(exported.picture_note)
    if as_json:
        output.json_object({"study": study, "metrics": attrs.metric_names(loaded),
                             "metric": attrs.metric_name(loaded),
                             "best": best_first[0].to_dict(),
                             "pareto": [t.to_dict() for t in front] if front else None,
                             "confirmation": confirmed.to_dict() if confirmed else None,
                             "export": exported.to_dict() if exported else None})
    else:
        output.best_panel(study, best_first[0], attrs.metric_names(loaded), folder, exported,
                          front)


def _nothing_to_rank(study: str, loaded, folder: Path, asked_for_best: bool,
                     as_json: bool) -> None:
    """`sweep best` on a study without a metric, which W&B allows: one line, not an error;
    --export and --confirm, which need a best trial, find nothing to export."""
    from torchsweep.sweeps.errors import ExportError

    said = (f"study '{study}' has no metric, so nothing ranks its {len(loaded.trials)} trials; "
            f"`sweep show {study}` lists them, and every trial's folder is kept under "
            f"{folder / study / 'trials'}")
    if asked_for_best:
        raise ExportError(f"nothing to export: {said}")
    if as_json:
        output.json_object({"study": study, "metrics": [], "metric": None, "best": None,
                            "note": said})
    else:
        output.console.print(said, soft_wrap=True, highlight=False, markup=False)


def _finite(number: Optional[float]) -> Optional[float]:
    if number is not None and not math.isfinite(number):
        raise typer.BadParameter(f"{number} is not a finite number.")
    return number


@app.command()
def report(
    study: StudyName,
    out: Optional[Path] = typer.Option(None, "--output", "-o", dir_okay=False,
                                       show_default="<root>/<study>/report.html",
                                       help="HTML file to write."),
    png: Optional[Path] = typer.Option(None, "--png", file_okay=False,
                                       help="Also write each figure as DIR/<name>.png "
                                            "(drawn by headless Chromium)."),
    target: Optional[float] = typer.Option(None, "--target", callback=_finite,
                                           show_default="the study's metric.target, else 5% "
                                                        "short of the best value reached",
                                           help="The study metric's value that steps- and "
                                                "time-to-target count to."),
    root_: RootOption = None,
    storage: StorageOption = None,
) -> None:
    """One self-contained HTML page (works offline) of what the study found: its answer to the
    batch-size or label-smoothing question, learning curves, and the search."""
    from torchsweep.sweeps.readout.report.page import REPORT_FILE, build_report, write_html
    from torchsweep.sweeps.readout.trials import load_study

    folder = root(root_)
    made = build_report(load_study(study, folder, storage), folder, target)
    page = write_html(made, out or folder / study / REPORT_FILE)
    images = []
    if png is not None:
        from torchsweep.sweeps.readout.report.png import write_pngs

        images = write_pngs(made.plots, png)
    output.report_written(page, made, images)


@app.command()
def dashboard(
    study: StudyName,
    host: str = typer.Option(LOCALHOST, "--host",
                             help="Address to listen on; the dashboard can change and delete "
                                  "studies, so only this machine by default."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535,
                             help="Port; 0 picks a free one."),
    root_: RootOption = None,
    storage: StorageOption = None,
) -> None:
    """Serve optuna-dashboard on the study's storage (live while trials run); Ctrl-C stops it."""
    from torchsweep.sweeps.readout.dashboard import Dashboard, is_local
    from torchsweep.sweeps.readout.trials import load_study
    from torchsweep.sweeps.storage import open_storage, storage_url

    folder = root(root_)
    load_study(study, folder, storage)  # an unknown study fails here, with its exit code
    server = Dashboard(open_storage(storage_url(folder, storage), create=False), study, host,
                       port)
    if not is_local(host):
        output.notice(f"listening on {host}: anyone who can reach it can change and delete "
                      "the studies in this storage")
    try:   # Ctrl-C stops it quietly, also the moment its URL is shown
        output.dashboard_started(study, server.url)
        server.serve()
    except KeyboardInterrupt:
        pass
