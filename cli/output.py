"""Everything the CLI prints: --json objects, plain lines, rich tables (their widths planned by
`tables`), one-line errors and warnings; `progress` draws a running study through this module's
console. Commands call these and print nothing themselves."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from torchsweep.trainer.goal import Goal

if TYPE_CHECKING:
    from torchsweep.sweeps.engine.confirm import Confirmation
    from torchsweep.sweeps.launch.slurm import Cancelled, JobStatus
    from torchsweep.sweeps.readout.export import Export
    from torchsweep.sweeps.readout.trials import StudySummary
from torchsweep.cli.tables import Column, fitted_table, plain_table

# No emoji codes: `module:train:` in a message is text, not a train.
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)

TOP_TRIALS_SHOWN = 5


def error(message: str) -> None:
    # Escaped: messages quote user input, and `[/x]` in it is text, not Rich markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def notice(message: str) -> None:
    errors.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


_PYTHON_FORMAT = warnings.formatwarning


def one_line_warnings() -> None:
    """Warnings of our own classes (torchsweep's: W&B or a heartbeat failed, the sweep went on)
    print as `warning: WHAT`, one line without a source location: they are for the user, not
    for a developer. A library's warnings print as Python prints them."""
    warnings.formatwarning = _format_warning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    if category.__module__.startswith("torchsweep."):
        return f"warning: {' '.join(str(message).split())}\n"
    return _PYTHON_FORMAT(message, category, filename, lineno, line)


def json_object(data: dict) -> None:
    """`--json`: one JSON object on stdout and nothing else, for a script to parse."""
    typer.echo(json.dumps(data))


def storage_checks(checks: list, as_json: bool) -> None:
    """`sweep doctor`: one line a check (status, what, detail), or them as a JSON list."""
    if as_json:
        typer.echo(json.dumps([check.__dict__ for check in checks]))
        return
    for check in checks:
        _line(f"{check.status:<8} {check.name:<12} {check.detail}")


def _line(text: str) -> None:
    # Neither wrapped nor styled: a script may read these lines as well as a person.
    typer.echo(text)


def progress_line(text: str) -> None:
    """A line of a running study's progress off a terminal, flushed at once (a log file or a
    Slurm job's output is read while the study runs)."""
    _line(text)


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else \
            f"{value:.{digits}f}"
    return str(value)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={number(value)}" for name, value in params.items())


def training_started(config, out: Path, dataset_given: bool) -> None:
    """`sweep train`'s first line: what trains on what, where its outputs go."""
    default = "" if dataset_given else \
        " (the default; the bundled studies use mnist1d: --set dataset=mnist1d)"
    console.print(f"training model {config.model} (width {config.width}) on dataset "
                  f"{config.dataset}{default} for {config.epochs} epochs, batch size "
                  f"{config.batch_size}; outputs in {out}", soft_wrap=True, markup=False,
                  highlight=False)


def epochs_table(result) -> None:
    table = Table(title=f"training {result.status}: {result.epochs_run} epochs")
    for column in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        table.add_column(column, justify="right")
    for m in result.history:
        marker = " *" if m["epoch"] == result.best_epoch else ""
        table.add_row(f"{m['epoch']}{marker}", *(number(m[k]) for k in (
            "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds")))
    console.print(table)
    if result.out_dir is not None:
        console.print(f"* best epoch by {result.monitor}; outputs in {result.out_dir}")


def noise_scale(result) -> None:
    """The gradient noise scale a run measured: one run's first answer to "which batch size"
    (McCandlish et al. 2018's critical batch). Nothing when the run did not measure it."""
    if not result.config.noise_scale_every:
        return
    value = result.grad_noise_scale
    if value is None:
        console.print("gradient noise scale: no estimate (too few measurements, or the "
                      "gradient lost in its noise)")
        return
    shown = f"{value:.0f}" if value >= 10 else f"{value:.2g}"
    console.print(f"gradient noise scale ~ {shown} samples (estimate; SGD assumptions, biased "
                  f"under Adam)", highlight=False)


def space_table(spec) -> None:
    from torchsweep.sweeps.study.choices import PRUNERS, SAMPLERS

    sampler, (pruner, why) = spec.sampler_name(), spec.pruned_by()
    within = f" within each {spec.prune_within}" if spec.prune_within else ""
    aim = f"{spec.goal} {spec.metric}" if spec.ranked else "no metric"
    table = Table(title=f"{spec.name}: {sampler} sampler, {pruner} pruner{within}, {aim}",
                  caption=f"{sampler}: {SAMPLERS[sampler].doc}\n{pruner}: "
                          f"{PRUNERS[pruner].doc} ({why})",
                  caption_justify="left")
    for column in ("parameter", "distribution", "range / values", "when"):
        table.add_column(column)
    for name, parameter in spec.space.parameters.items():
        when = ", ".join(f"{k} in {list(v)}" for k, v in parameter.when) if parameter.when else ""
        table.add_row(name, parameter.distribution, parameter.describe(), when)
    console.print(table)
    console.print("space is valid")


def queued(study: str, count: int, storage: str) -> None:
    _line(f"{study}: {count} trials queued in {storage}; run them with `sweep worker {study} "
          f"--storage URL` on any machine that reaches the storage, or `sweep run {study}` here")


def studies_table(bundled: list[str], studies: list[StudySummary]) -> None:
    console.print("bundled studies: " + ", ".join(bundled))
    if not studies:
        console.print("no studies in the storage yet")
        return
    table = Table(title="studies")
    for column in ("study", "trials", "best"):
        table.add_column(column, justify="right" if column != "study" else "left")
    for row in studies:
        table.add_row(row.name, str(row.trials), number(row.best))
    console.print(table)


# Rich measures every cell (about 1 ms a row); past this many rows a plain aligned table keeps
# `sweep show` on a large study well under a second. It is also the table where no Rich table
# fits without cutting a value: the terminal wraps its lines instead.
RICH_ROW_LIMIT = 200


def trials_table(study: str, rows, metric: str, title: str | None = None, front=()) -> None:
    from torchsweep.sweeps.readout.trials import varying

    shown = varying(rows)
    on_front = {row.number for row in front}
    fixed = [Column("#", [str(row.number) for row in rows]),
             Column("state", [_state(row) + (", pareto" if row.number in on_front else "")
                              for row in rows], justify="left", wraps=True),
             Column(metric, [_values(row) for row in rows]),
             Column("epochs", [_epochs(row.epochs_run) for row in rows]),
             Column("pruned at", [_epochs(row.pruned_at) for row in rows]),
             Column("seconds", [number(row.duration_s, 3) for row in rows])]
    params = {name: [number(row.params[name]) if name in row.params else "" for row in rows]
              for name in shown}
    _print_table(title or f"{study}: {len(rows)} trials", fixed, params, len(rows))


def _print_table(title: str, fixed: list[Column], params: dict[str, list[str]],
                 rows: int) -> None:
    table = fitted_table(title, fixed, params, console.width) if rows <= RICH_ROW_LIMIT \
        else None
    if table is None:
        console.file.write(plain_table(title, fixed, params))
    else:
        console.print(table)


def _epochs(value: Any) -> str:
    """Epochs, or a program's steps, alike for both: 9, 1.25, 10 (not 9.0000 beside 10)."""
    if value is None:
        return "-"
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _values(row) -> str:
    """A trial's value, or each objective's in a multi-objective study; with repeats, the
    standard deviation over its seeds and their count (`0.8241 ± 0.1103 (3 seeds)`)."""
    shown = " / ".join(number(v) for v in row.values) if row.values else number(row.value)
    seeds = row.repeats
    if seeds and not row.values and row.value is not None:
        std = next(iter(seeds["std"].values()))
        shown += f" ± {number(std)} ({len(seeds['seeds'])} seeds)"
    return shown


def _state(row) -> str:
    """`failed (lost)`, `completed, retry of #3 from epoch 5`."""
    state = f"{row.state} ({row.reason})" if row.reason else row.state
    if row.retry_of is not None:
        state += f", retry of #{row.retry_of}"
        if row.resumed_at:
            state += f" from epoch {row.resumed_at}"
    if row.collapsed:
        state += ", collapsed late"
    return state


def collapsed_note(rows, metric: str | None) -> None:
    """Under `sweep show`'s table: the trials whose metric collapsed late, and the rule."""
    from torchsweep.sweeps.readout.collapse import rule

    fallen = [row for row in rows if row.collapsed]
    if fallen and metric is not None:
        trials = "; ".join(f"#{row.number} best {number(row.collapsed['best'])}, last "
                           f"{number(row.collapsed['last'])}" for row in fallen)
        console.print(f"collapsed late ({rule(fallen[0].collapsed['threshold'], metric)}): "
                      f"{trials}", soft_wrap=True, highlight=False, markup=False)


def top_trials(study: str, rows, best_first, metric: str | None, kept: dict[int, str],
               saved_by_program: list[str] | None = None) -> None:
    """The best trials, ranked by the study's goal, and the counts of every state. What is
    kept is counted as it is on disk: best checkpoints, or a program study's trial folders
    (`saved_by_program`: the files its program saved in the kept ones)."""
    counts = {state: sum(r.state == state for r in rows)
              for state in ("completed", "pruned", "failed")}
    if best_first:
        best = best_first[:TOP_TRIALS_SHOWN]
        trials_table(study, best, metric or "value",
                     title=f"{study}: top {len(best)} of {len(rows)} trials")
    if saved_by_program is None:
        kept_text = f"{_count(len(kept), 'best checkpoint')} kept"
    else:
        kept_text = f"{_count(len(kept), 'trial folder')} kept" + (
            "" if saved_by_program or not kept else
            " (the program saved nothing in them: only its logs and values are there)")
    console.print(f"{counts['completed']} completed, {counts['pruned']} pruned, "
                  f"{counts['failed']} failed; {kept_text}. "
                  f"Next: `sweep best {study} --export best/`")


def budget_spent(budget: dict[str, Any]) -> None:
    _line(f"budget: spent {budget['spent']:.4g} of {budget['limit']:g} {budget['unit']}")


def _count(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def best_panel(study: str, row, metrics: list[str], root: Path, exported: Export | None,
               front=None) -> None:
    if front:
        trials_table(study, front, " / ".join(metrics), front=front,
                     title=f"{study}: Pareto front, {len(front)} trials (--export DIR --trial N "
                           f"exports one)")
    console.print(f"best trial of {study}: #{row.number}, {metrics[0]} = {number(row.value)}")
    console.print(f"params: {params_text(row.params)}")
    if row.best_metrics:
        console.print("metrics at its best epoch: " + " ".join(
            f"{k}={number(v)}" for k, v in row.best_metrics.items()))
    console.print(f"kept: {Path(root) / row.checkpoint if row.checkpoint else '-'}")
    if exported:
        console.print(_exported(exported), soft_wrap=True, markup=False, highlight=False)
    console.print(f"every trial in plots: `sweep report {study}` (an HTML page), or live: "
                  f"`sweep dashboard {study}`", soft_wrap=True)


def _exported(exported: Export) -> str:
    """What an export wrote: a trainer model and how to load it, or a copy of a program's trial
    folder, named file by file (a program's files load only as the program saves them)."""
    where = f"exported trial {exported.trial} to {exported.directory}"
    saved = exported.saved_by_program
    if saved is None:
        return (f"{where}: {', '.join(exported.files)}; load the model with "
                f"torchsweep.trainer.load_exported_model({exported.directory!r})")
    own = sorted(set(exported.files) - set(saved))
    copied = (f"what the program saved there: {', '.join(saved)}" if saved else
              "the program saved nothing there (it can save to $SWEEP_TRIAL_DIR)")
    return f"{where}: a copy of its trial folder ({copied}) and {', '.join(own)}"


def confirmation_table(study: str, confirmed: Confirmation) -> None:
    """`sweep best --confirm`: the top trials re-ranked by their mean on fresh seeds."""
    metric, rows = confirmed.metric, confirmed.trials
    fixed = [Column("rank", [str(rank) for rank in range(1, len(rows) + 1)]),
             Column("trial", [str(row.trial) for row in rows]),
             Column(f"study {metric}", [number(row.study_value) for row in rows]),
             Column(f"mean {metric}", [number(row.spread.mean) for row in rows]),
             Column("95% interval", [f"{number(row.spread.low)} .. {number(row.spread.high)}"
                                     for row in rows]),
             Column("per seed", [" ".join(number(v) for v in row.values) for row in rows],
                    wraps=True)]
    # The parameters that tell the configurations apart (all of them for a single one).
    names = [name for name in rows[0].params
             if len(rows) < 2 or len({repr(row.params.get(name)) for row in rows}) > 1]
    params = {name: [number(row.params.get(name)) if name in row.params else ""
                     for row in rows] for name in names}
    _print_table(f"{study}: top {len(rows)} trials on fresh seeds "
                 f"{', '.join(map(str, confirmed.seeds))}, ranked by mean {metric}",
                 fixed, params, len(rows))
    console.print(f"confirmed winner: trial {confirmed.winner.trial}, {confirmed.verdict()}",
                  soft_wrap=True)


def report_written(page: Path, report, images: list[Path]) -> None:
    shown = sum(plot.figure is not None for plot in report.plots)
    console.print(f"report of {report.study}: {page} ({shown} plots); open it in a browser, "
                  "it needs no network", soft_wrap=True)
    for plot in report.plots:
        if plot.finding:
            console.print(plot.finding, soft_wrap=True, markup=False, highlight=False)
    if images:
        console.print(f"images: {len(images)} PNG files in {images[0].parent}", soft_wrap=True)


def dashboard_started(study: str, url: str) -> None:
    console.print(f"optuna-dashboard for {study}: {url}  (Ctrl-C stops it)", soft_wrap=True)


def runs_table(study: str, runs, folder: Path) -> None:
    if not runs:
        console.print(f"no W&B runs for {study} in {folder} (it ran with --wandb disabled)")
        return
    table = Table(title=f"{study}: {len(runs)} W&B runs")
    for column in ("run", "id", "started", "sync"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.name, run.run_id, run.started, run.sync)
    console.print(table)
    unsynced = sum(run.sync == "unsynced" for run in runs)
    if unsynced:
        console.print(f"{unsynced} not synced: `sweep sync {study}` uploads them")
    console.print(f"browse them offline: wandb leet {folder}")


def synced(study: str, runs) -> None:
    if runs:
        console.print(f"synced {len(runs)} W&B runs of {study}")
    else:
        console.print(f"nothing to sync: every W&B run of {study} is synced")


def slurm_submitted(study: str, submitted, jobs: int) -> None:
    _line(f"{study}: submitted Slurm job array {submitted.array} ({jobs} jobs); logs in "
          f"{submitted.logs}; `sweep launch slurm status {study}` shows them")


def slurm_cancelled(study: str, cancelled: Cancelled) -> None:
    if not cancelled.jobs:
        _line(f"{study}: none of its Slurm jobs is pending or running")
        return
    resuming = ", ".join(f"#{number}" for number in cancelled.trials)
    _line(f"{study}: cancelled Slurm jobs {', '.join(cancelled.jobs)}"
          + (f"; queued to resume: trials {resuming}" if resuming else ""))


def slurm_jobs(study: str, jobs: list[JobStatus]) -> None:
    """`sweep launch slurm status`: a line per job, with the trials it ran."""
    if not jobs:
        _line(f"{study}: no Slurm jobs (submit them with `sweep launch slurm submit {study}`)")
        return
    for job in jobs:
        trials = ", ".join(f"#{t.number} {t.state}"
                           + (f" ({t.reason})" if t.reason and t.state != "completed" else "")
                           for t in job.trials) or "no trials yet"
        where = f" on {job.where}" if job.where else ""
        _line(f"{job.job:<12} {job.state:<10}{where}: {trials}")


def manifest(text: str) -> None:
    """A YAML document for `kubectl apply -f -`, as it is."""
    typer.echo(text, nl=False)
