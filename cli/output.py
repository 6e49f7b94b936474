"""Everything the CLI prints: --json objects, plain lines, rich tables, the live view of a running
study, one-line errors. Commands call these and print nothing themselves."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from torchsweep.trainer.goal import Goal

if TYPE_CHECKING:
    from torchsweep.sweeps.readout.export import Export

console = Console()
errors = Console(stderr=True)

TOP_TRIALS_SHOWN = 5


def error(message: str) -> None:
    # Escaped: messages quote user input, and `[/x]` in it is text, not Rich markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def notice(message: str) -> None:
    errors.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


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


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else \
            f"{value:.{digits}f}"
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={_number(value)}" for name, value in params.items())


def epochs_table(result) -> None:
    table = Table(title=f"training {result.status}: {result.epochs_run} epochs")
    for column in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
        table.add_column(column, justify="right")
    for m in result.history:
        marker = " *" if m["epoch"] == result.best_epoch else ""
        table.add_row(f"{m['epoch']}{marker}", *(_number(m[k]) for k in (
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


def studies_table(bundled: list[str], studies: list[dict[str, Any]]) -> None:
    console.print("bundled studies: " + ", ".join(bundled))
    if not studies:
        console.print("no studies in the storage yet")
        return
    table = Table(title="studies")
    for column in ("study", "trials", "best"):
        table.add_column(column, justify="right" if column != "study" else "left")
    for row in studies:
        table.add_row(row["name"], str(row["trials"]), _number(row["best"]))
    console.print(table)


# Rich measures every cell; past this many rows a plain aligned table keeps `sweep show` on a
# large study fast (bench/RESULTS.md, "CLI latency").
RICH_ROW_LIMIT = 200


def trials_table(study: str, rows, metric: str, title: str | None = None, front=()) -> None:
    from torchsweep.sweeps.readout.trials import varying

    shown = varying(rows)
    on_front = {row.number for row in front}
    header = ["#", "state", metric, "epochs", "pruned at", "seconds", "params"]
    cells = [[str(row.number), _state(row) + (", pareto" if row.number in on_front else ""),
              _values(row), _number(row.epochs_run), _number(row.pruned_at),
              _number(row.duration_s, 3),
              _params({name: row.params[name] for name in shown if name in row.params})]
             for row in rows]
    title = title or f"{study}: {len(rows)} trials"
    if len(cells) > RICH_ROW_LIMIT:
        widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header) - 1)]
        lines = [title] + ["  ".join(cell.ljust(width) for cell, width in zip(line, widths))
                           + "  " + line[-1] for line in [header, *cells]]
        console.file.write("\n".join(lines) + "\n")
        return
    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="left" if column in ("state", "params") else "right")
    for line in cells:
        table.add_row(*line)
    console.print(table)


def _values(row) -> str:
    """A trial's value, or each objective's in a multi-objective study; with repeats, the
    standard deviation over its seeds and their count (`0.8241 ± 0.1103 (3 seeds)`)."""
    shown = " / ".join(_number(v) for v in row.values) if row.values else _number(row.value)
    seeds = row.repeats
    if seeds and not row.values and row.value is not None:
        std = next(iter(seeds["std"].values()))
        shown += f" ± {_number(std)} ({len(seeds['seeds'])} seeds)"
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


def collapsed_note(rows, metric: str) -> None:
    """Under `sweep show`'s table: the trials whose metric collapsed late, and the rule."""
    from torchsweep.sweeps.readout.collapse import rule

    fallen = [row for row in rows if row.collapsed]
    if fallen:
        trials = "; ".join(f"#{row.number} best {_number(row.collapsed['best'])}, last "
                           f"{_number(row.collapsed['last'])}" for row in fallen)
        console.print(f"collapsed late ({rule(fallen[0].collapsed['threshold'], metric)}): "
                      f"{trials}", soft_wrap=True, highlight=False, markup=False)


def top_trials(study: str, rows, best_first, metric: str, kept: dict[int, str]) -> None:
    """The best trials, ranked by the study's goal, and the counts of every state."""
    counts = {state: sum(r.state == state for r in rows)
              for state in ("completed", "pruned", "failed")}
    if best_first:
        best = best_first[:TOP_TRIALS_SHOWN]
        trials_table(study, best, metric, title=f"{study}: top {len(best)} of {len(rows)} trials")
    console.print(f"{counts['completed']} completed, {counts['pruned']} pruned, "
                  f"{counts['failed']} failed; {len(kept)} best checkpoints kept. "
                  f"Next: `sweep best {study} --export best/`")


def best_panel(study: str, row, metrics: list[str], root: Path,
               exported: Export | None, front=None) -> None:
    if front:
        trials_table(study, front, " / ".join(metrics), front=front,
                     title=f"{study}: Pareto front, {len(front)} trials (--export DIR --trial N "
                           f"exports one)")
    console.print(f"best trial of {study}: #{row.number}, {metrics[0]} = {_number(row.value)}")
    console.print(f"params: {_params(row.params)}")
    if row.best_metrics:
        console.print("metrics at its best epoch: " + " ".join(
            f"{k}={_number(v)}" for k, v in row.best_metrics.items()))
    console.print(f"kept: {Path(root) / row.checkpoint if row.checkpoint else '-'}")
    if exported:
        console.print(f"exported trial {exported.trial} to {exported.directory} "
                      "(params.json, metrics.json; a trainer model as model.safetensors and "
                      "config.json, loaded with torchsweep.trainer.load_exported_model(DIR))")
    console.print(f"every trial in plots: `sweep report {study}` (an HTML page), or live: "
                  f"`sweep dashboard {study}`", soft_wrap=True)


def confirmation_table(study: str, confirmed: dict) -> None:
    """`sweep best --confirm`: the top trials re-ranked by their mean on fresh seeds."""
    metric, seeds = confirmed["metric"], confirmed["seeds"]
    table = Table(title=f"{study}: top {len(confirmed['trials'])} trials on fresh seeds "
                        f"{', '.join(map(str, seeds))}, ranked by mean {metric}")
    for column in ("rank", "trial", "params", f"study {metric}", f"mean {metric}",
                   "95% interval", "per seed"):
        table.add_column(column, justify="left" if column == "params" else "right")
    rows = confirmed["trials"]
    # The parameters that tell the configurations apart (all of them for a single one).
    names = [name for name in rows[0]["params"]
             if len(rows) < 2 or len({repr(row["params"].get(name)) for row in rows}) > 1]
    for rank, row in enumerate(rows, start=1):
        shown = {name: row["params"].get(name) for name in names}
        table.add_row(str(rank), str(row["trial"]), escape(_params(shown)),
                      _number(row["study_value"]), _number(row["mean"]),
                      f"{_number(row['low'])} .. {_number(row['high'])}",
                      " ".join(_number(v) for v in row["values"]))
    console.print(table)
    top = confirmed["trials"][0]
    study_best = next(row for row in confirmed["trials"] if row["study_rank"] == 1)
    if top is study_best:
        said = "the study's best too"
    else:
        apart = top["low"] is not None and study_best["high"] is not None and (
            top["low"] > study_best["high"] or top["high"] < study_best["low"])
        said = (f"the study ranked trial {study_best['trial']} first; " + (
            "their 95% intervals do not overlap: its value was a lucky draw" if apart else
            "their 95% intervals overlap: more seeds would tell the two apart surely"))
    console.print(f"confirmed winner: trial {top['trial']}, {said}", soft_wrap=True)


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


class LiveView:
    """A live status line while a study runs: trials done/pruned/failed, best so far, and
    the running trial's epoch. It is the orchestrator's observer and an Optuna callback."""

    def __init__(self, study: str, metric: str | None, goal: Goal):
        self.study, self.metric, self.goal = study, metric, goal
        self.counts = {"completed": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None
        self.running = ""
        self.started = time.perf_counter()
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> "LiveView":
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.running = f"trial {number}: {_params(params)}"
        self._live.update(self._render())

    def epoch_ended(self, number: int, metrics: dict[str, float]) -> None:
        self.running = (f"trial {number} epoch {metrics['epoch']}: "
                        f"{self.metric} {_number(metrics[self.metric])}")
        self._live.update(self._render())

    def trial_finished(self, state: str, value: float | None) -> None:
        self.counts[state] = self.counts.get(state, 0) + 1
        if state == "completed" and value is not None:
            if self.best is None or self.goal.better(value, self.best):
                self.best = value
        self._live.update(self._render(), refresh=True)   # each finished trial shows at once

    def _render(self) -> str:
        elapsed = time.perf_counter() - self.started
        best = f"best {self.metric} {_number(self.best)} | " if self.metric else ""
        return (f"[bold]{self.study}[/] {elapsed:5.0f}s | {self.counts['completed']} done, "
                f"{self.counts['pruned']} pruned, {self.counts['failed']} failed | {best}"
                f"{self.running}")


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


def slurm_cancelled(study: str, cancelled: dict) -> None:
    if not cancelled["jobs"]:
        _line(f"{study}: none of its Slurm jobs is pending or running")
        return
    resuming = ", ".join(f"#{number}" for number in cancelled["trials"])
    _line(f"{study}: cancelled Slurm jobs {', '.join(cancelled['jobs'])}"
          + (f"; queued to resume: trials {resuming}" if resuming else ""))


def slurm_jobs(study: str, jobs: list[dict]) -> None:
    """`sweep launch slurm status`: a line per job, with the trials it ran."""
    if not jobs:
        _line(f"{study}: no Slurm jobs (submit them with `sweep launch slurm submit {study}`)")
        return
    for job in jobs:
        trials = ", ".join(f"#{t['number']} {t['state']}"
                           + (f" ({t['reason']})" if t["reason"] and t["state"] != "completed"
                              else "") for t in job["trials"]) or "no trials yet"
        where = f" on {job['where']}" if job["where"] else ""
        _line(f"{job['job']:<12} {job['state']:<10}{where}: {trials}")


def manifest(text: str) -> None:
    """A YAML document for `kubectl apply -f -`, as it is."""
    typer.echo(text, nl=False)
