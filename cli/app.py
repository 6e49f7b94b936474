"""The `sweep` command line. Thin: parse, validate at the boundary, call sweeps/trainer, print.

Heavy modules (torch, optuna) are imported inside the commands that need them, so
`sweep --help` and the listing commands start fast.
"""
from __future__ import annotations

import errno
import functools
import json
import math
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from torchsweep.cli import output
from torchsweep.sweeps.engine.signals import Stopped

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter sweeps for PyTorch: W&B sweep files, Optuna trials with "
                       "pruning, the best checkpoints kept.")

PARAM_HELP = ("Search dimension NAME=SPEC (repeatable): a,b,c (choices) | LOW..HIGH (uniform; "
              "int when both ints) | log:LOW..HIGH (log-uniform) | LOW..HIGH:STEP (stepped) | "
              "VALUE (fixed). E.g. --param batch_size=16,32,64 --param lr=log:1e-4..1e-1")
SET_HELP = "Fix a training setting NAME=VALUE (repeatable), e.g. --set epochs=5"


class Sampler(str, Enum):
    tpe = "tpe"
    random = "random"
    grid = "grid"
    cmaes = "cmaes"
    qmc = "qmc"
    gp = "gp"


class Pruner(str, Enum):
    median = "median"
    hyperband = "hyperband"
    successive_halving = "successive_halving"
    none = "none"


class WandbMode(str, Enum):
    online = "online"
    offline = "offline"
    disabled = "disabled"


class LogCheckpoints(str, Enum):
    best = "best"
    all = "all"
    none = "none"


def _root_option() -> Path:
    return typer.Option(None, "--root", envvar="SWEEP_ROOT", show_default="./runs",
                        help="Folder for studies' checkpoints, metrics and W&B runs "
                             "(env SWEEP_ROOT).")


def _storage_option() -> Optional[str]:
    return typer.Option(None, "--storage", envvar="SWEEP_STORAGE",
                        help="Optuna storage URL (postgresql://, mysql+pymysql://, sqlite:///, "
                             "redis://); default: an embedded journal file under the root.")


def command(**settings):
    """app.command, with the errors a user can fix turned into one line and an exit code."""
    def register(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Stopped as stop:  # SIGINT, SIGTERM: running trials were left resumable
                output.error(f"{stop}; the same command again continues the study")
                raise typer.Exit(stop.exit_code) from None
            except KeyboardInterrupt:  # Ctrl+C outside a sweep (start-up, `sweep train`)
                output.error("interrupted by SIGINT")
                raise typer.Exit(130) from None
            except Exception as error:  # the boundary: one line, never a traceback
                code = _exit_code(error)
                if code is None:
                    raise
                output.error(_message(error))
                raise typer.Exit(code) from None
        return app.command(**settings)(guarded)
    return register


MIN_TORCH = (2, 6)
OLD_TORCH_EXIT = 8


def torch_problem(version: str | None) -> str | None:
    """Why the installed torch must not run, or None. Before 2.6, torch.load(weights_only=True)
    could still run code hidden in a crafted checkpoint (CVE-2025-32434)."""
    if version is None:
        return "torch is not installed; pip install 'torch>=2.6'"
    release = re.match(r"(\d+)\.(\d+)", version)
    if release and (int(release[1]), int(release[2])) >= MIN_TORCH:
        return None
    return (f"torch {version} is too old: before 2.6 a checkpoint can run code even when loaded "
            f"with weights_only=True (CVE-2025-32434); pip install -U 'torch>=2.6'")


def _installed_torch() -> str | None:
    # The distribution's metadata, not `import torch`: the check must not slow every command.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


@app.callback()
def _at_start() -> None:
    """Before any command: refuse an unsafe torch, and mask passwords in sys.argv."""
    from torchsweep.sweeps.storage import mask_password

    problem = torch_problem(_installed_torch())
    if problem:
        output.error(problem)
        raise typer.Exit(OLD_TORCH_EXIT)
    # The arguments are parsed by now; libraries that record the command line (W&B stores it
    # in every run's metadata) must not find a storage password in it.
    sys.argv[:] = [mask_password(argument) for argument in sys.argv]


def _positive(value: Optional[float]) -> Optional[float]:
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not > 0.")
    return value


def _gpu_list(text: Optional[str]) -> Optional[str]:
    from torchsweep.sweeps.engine.workers import parse_gpus

    if text is not None:
        try:
            parse_gpus(text)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return text


# Options that `run`, `create` and `worker` share, declared once.
# A study to define or run, and one already in the storage.
StudySource = Annotated[str, typer.Argument(
    help="A bundled study, a YAML study file, or a new name with --param.")]
StudyName = Annotated[str, typer.Argument(help="Study name.")]
ParamOption = Annotated[List[str], typer.Option("--param", "-p", help=PARAM_HELP)]
SetOption = Annotated[List[str], typer.Option("--set", help=SET_HELP)]
TrialsOption = Annotated[Optional[int], typer.Option(
    "--trials", "-n", min=1, help="Trials to add to the study's queue (default: the study's, "
    "else 20; none when an interrupted run left queued trials, which run first).")]
SamplerOption = Annotated[Optional[Sampler], typer.Option(
    "--sampler", help="Overrides the study's method.")]
PrunerOption = Annotated[Optional[Pruner], typer.Option(
    "--pruner", help="Overrides the study's pruner.")]
KeepTopKOption = Annotated[Optional[int], typer.Option(
    "--keep-top-k", min=1, help="Best checkpoints kept (default: 3).")]
TimeoutOption = Annotated[Optional[float], typer.Option(
    "--timeout", callback=_positive, help="Stop starting trials after this many seconds.")]
WandbOption = Annotated[Optional[WandbMode], typer.Option(
    "--wandb", help="W&B mode (default: online with credentials, else offline).")]
WandbProjectOption = Annotated[Optional[str], typer.Option("--wandb-project", help="W&B project.")]
WandbEntityOption = Annotated[Optional[str], typer.Option("--wandb-entity", help="W&B entity.")]
LogCheckpointsOption = Annotated[LogCheckpoints, typer.Option(
    "--log-checkpoints", help="Kept checkpoints the W&B study run logs as model artifacts.")]
TensorBoardOption = Annotated[bool, typer.Option(
    "--tensorboard", help="Also write TensorBoard event files in each trial's folder.")]
DeviceOption = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
MaxFailuresOption = Annotated[int, typer.Option(
    "--max-failures", min=1, help="A worker stops after this many failed trials in a row.")]
AllowSpaceChangeOption = Annotated[bool, typer.Option(
    "--allow-space-change", help="Continue a study whose search space changed.")]
RetryFailedOption = Annotated[bool, typer.Option(
    "--retry-failed", help="Queue the failed trials again; each resumes from its last checkpoint.")]
RestartFailedOption = Annotated[bool, typer.Option(
    "--restart-failed", help="Queue the failed trials again, from epoch 0.")]
WorkersOption = Annotated[int, typer.Option(
    "--workers", "-w", min=1, help="Worker processes on this machine, sharing its CPU cores.")]
GpusOption = Annotated[Optional[str], typer.Option(
    "--gpus", callback=_gpu_list, help="GPUs to use, e.g. 0,1: one worker per GPU, each seeing "
    "only its own.")]
WorkersPerGpuOption = Annotated[int, typer.Option(
    "--workers-per-gpu", min=1, help="Workers sharing each GPU of --gpus (small trials).")]
MaxRetriesOption = Annotated[int, typer.Option(
    "--max-retries", min=0, help="Retries of a trial whose worker died or was stopped; a retry "
    "has the same settings and resumes from the trial's last checkpoint.")]
HeartbeatOption = Annotated[float, typer.Option(
    "--heartbeat", callback=_positive, help="Seconds between a running trial's heartbeats; a "
    "trial silent for 6 of them is taken as lost and retried.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")]


def _root(root: Optional[Path]) -> Path:
    from torchsweep.sweeps.storage import default_root

    return root or default_root()


@command()
def train(
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False,
                                          help="YAML file of training settings."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                       "[default: <root>/train/<timestamp>]."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Checkpoint to resume from."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    tensorboard: bool = typer.Option(False, "--tensorboard",
                                     help="Also write TensorBoard event files into --out."),
) -> None:
    """Train once, without Optuna: settings from defaults < --config < --set."""
    import time

    import yaml

    from torchsweep.trainer.config import TrainConfig
    from torchsweep.trainer.errors import ConfigError

    settings = {}
    if config is not None:
        settings = yaml.safe_load(config.read_text()) or {}
        if not isinstance(settings, dict):
            raise ConfigError(f"{config}: expected a mapping of setting: value")
    for text in set_:
        name, equals, value = text.partition("=")
        if not equals:
            raise ConfigError(f"--set {text!r}: expected NAME=VALUE, e.g. --set epochs=5")
        settings[name.strip()] = value.strip()
    resolved = TrainConfig.from_dict(settings)
    out = out or _root(None) / "train" / time.strftime("%Y%m%d-%H%M%S")
    if resume is not None:
        from torchsweep.trainer.checkpoint import resume_point

        resume, fallback_note = resume_point(resume)
        if fallback_note:
            output.notice(fallback_note)

    from torchsweep.sweeps.tracking.background import Fanout
    from torchsweep.sweeps.tracking.tensorboard_events import TensorBoardRun
    from torchsweep.trainer.loop import fit

    events = Fanout([TensorBoardRun(out)] if tensorboard else [])
    try:
        result = fit(resolved, out_dir=out, resume_from=resume, callbacks=(events.log,),
                     progress=not (quiet or as_json) and sys.stderr.isatty())
    finally:
        events.finish("ended", {})   # flushes the event files however training ended
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    elif not quiet:
        output.epochs_table(result)


@command()
def run(
    study: StudySource,
    param: ParamOption = [],
    set_: SetOption = [],
    trials: TrialsOption = None,
    timeout: TimeoutOption = None,
    sampler: SamplerOption = None,
    pruner: PrunerOption = None,
    seed: int = typer.Option(0, "--seed", min=0, help="Sampler seed (local worker k: seed + k)."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    keep_top_k: KeepTopKOption = None,
    wandb: WandbOption = None,
    wandb_project: WandbProjectOption = None,
    wandb_entity: WandbEntityOption = None,
    log_checkpoints: LogCheckpointsOption = LogCheckpoints.best,
    tensorboard: TensorBoardOption = False,
    device: DeviceOption = None,
    max_failures: MaxFailuresOption = 3,
    allow_space_change: AllowSpaceChangeOption = False,
    retry_failed: RetryFailedOption = False,
    restart_failed: RestartFailedOption = False,
    workers: WorkersOption = 1,
    gpus: GpusOption = None,
    workers_per_gpu: WorkersPerGpuOption = 1,
    max_retries: MaxRetriesOption = 3,
    heartbeat: HeartbeatOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Create or continue a study, queue its trials and run them, pruning the ones that fall
    behind. Run it again after a crash or Ctrl+C: it continues where it stopped."""
    from torchsweep.sweeps.engine.orchestrate import RunOptions, run_study

    root = _root(root)
    spec = _resolve(study, root, param, set_, as_json)
    options = RunOptions(root=root, storage=storage, trials=trials, timeout=timeout,
                         sampler=sampler.value if sampler else None,
                         pruner=pruner.value if pruner else None, seed=seed,
                         keep_top_k=keep_top_k, wandb=wandb.value if wandb else None,
                         wandb_project=wandb_project, wandb_entity=wandb_entity, device=device,
                         max_failures=max_failures, allow_space_change=allow_space_change,
                         max_retries=max_retries, heartbeat=heartbeat,
                         log_checkpoints=log_checkpoints.value, tensorboard=tensorboard,
                         **_requeue(retry_failed, restart_failed),
                         **_local_workers(workers, gpus, workers_per_gpu))
    if as_json:
        outcome = run_study(spec, options)
    else:
        with output.LiveView(spec) as view:
            outcome = run_study(spec, options, observer=view)
    _print_outcome(outcome, spec.name, spec.metric, as_json)


@command()
def create(
    study: StudySource,
    param: ParamOption = [],
    set_: SetOption = [],
    trials: TrialsOption = None,
    sampler: SamplerOption = None,
    pruner: PrunerOption = None,
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    keep_top_k: KeepTopKOption = None,
    wandb_project: WandbProjectOption = None,
    wandb_entity: WandbEntityOption = None,
    allow_space_change: AllowSpaceChangeOption = False,
    retry_failed: RetryFailedOption = False,
    restart_failed: RestartFailedOption = False,
    as_json: JsonOption = False,
) -> None:
    """Create or continue a study and queue its trials, for `sweep worker` on any machine."""
    from torchsweep.sweeps.engine.orchestrate import RunOptions, create_study

    root = _root(root)
    spec = _resolve(study, root, param, set_, as_json)
    options = RunOptions(root=root, storage=storage, trials=trials,
                         sampler=sampler.value if sampler else None,
                         pruner=pruner.value if pruner else None, keep_top_k=keep_top_k,
                         wandb_project=wandb_project, wandb_entity=wandb_entity,
                         allow_space_change=allow_space_change,
                         **_requeue(retry_failed, restart_failed))
    outcome = create_study(spec, options)
    if as_json:
        typer.echo(json.dumps({"study": spec.name, "storage": outcome.storage_shown,
                               "queued": outcome.queued}))
    else:
        typer.echo(f"{spec.name}: {outcome.queued} trials queued in {outcome.storage_shown}; "
                   f"run them with `sweep worker {spec.name} --storage URL` on any machine "
                   f"that reaches the storage, or `sweep run {spec.name}` here")


@command()
def worker(
    study: str = typer.Argument(..., help="A study that `sweep run` or `sweep create` made."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    timeout: TimeoutOption = None,
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Sampler seed (default: "
                                       "random, so that workers on several machines differ)."),
    wandb: WandbOption = None,
    log_checkpoints: LogCheckpointsOption = LogCheckpoints.best,
    tensorboard: TensorBoardOption = False,
    device: DeviceOption = None,
    max_failures: MaxFailuresOption = 3,
    workers: WorkersOption = 1,
    gpus: GpusOption = None,
    workers_per_gpu: WorkersPerGpuOption = 1,
    max_retries: MaxRetriesOption = 3,
    heartbeat: HeartbeatOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Join a study from this machine: run trials from its queue until none is queued or
    running, retrying those whose worker died."""
    from torchsweep.sweeps.engine.orchestrate import RunOptions, join_study
    from torchsweep.sweeps.readout.trials import metric_name

    options = RunOptions(root=_root(root), storage=storage, timeout=timeout, seed=seed,
                         wandb=wandb.value if wandb else None, device=device,
                         max_failures=max_failures, max_retries=max_retries,
                         heartbeat=heartbeat, log_checkpoints=log_checkpoints.value,
                         tensorboard=tensorboard, **_local_workers(workers, gpus, workers_per_gpu))
    outcome = join_study(study, options)
    _print_outcome(outcome, study, metric_name(outcome.study), as_json)


def _resolve(study: str, root: Path, param: List[str], set_: List[str], as_json: bool):
    from torchsweep.sweeps.study.catalog import resolve

    spec = resolve(study, root, param, set_)
    if spec.ignored and not as_json:
        output.notice(f"{spec.source}: {', '.join(spec.ignored)} do not apply to local "
                      "sweeps and are ignored")
    return spec


def _requeue(retry_failed: bool, restart_failed: bool) -> dict:
    if retry_failed and restart_failed:
        raise typer.BadParameter("give one of --retry-failed and --restart-failed",
                                 param_hint="'--restart-failed'")
    return {"retry_failed": retry_failed, "restart_failed": restart_failed}


def _local_workers(workers: int, gpus: Optional[str], workers_per_gpu: int) -> dict:
    from torchsweep.sweeps.engine.workers import parse_gpus

    if gpus and workers != 1:
        raise typer.BadParameter("with --gpus there is one worker per GPU; use "
                                 "--workers-per-gpu to run more", param_hint="'--workers'")
    if workers_per_gpu != 1 and not gpus:
        raise typer.BadParameter("needs --gpus", param_hint="'--workers-per-gpu'")
    return {"workers": workers, "gpus": parse_gpus(gpus) if gpus else (),
            "workers_per_gpu": workers_per_gpu}


def _print_outcome(outcome, study: str, metric: str, as_json: bool) -> None:
    from torchsweep.sweeps.readout.trials import best_row, trial_rows

    rows, best = trial_rows(outcome.study), best_row(outcome.study)
    if as_json:
        typer.echo(json.dumps({"study": study, "storage": outcome.storage_shown,
                               "ran": outcome.ran, "trials": [r.to_dict() for r in rows],
                               "best": best.to_dict() if best else None,
                               "kept_checkpoints": outcome.kept}))
    else:
        output.top_trials(study, rows, metric, outcome.kept)


@command()
def space(
    study: str = typer.Argument(..., help="A bundled study, a YAML study file, or a new name."),
    param: List[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    root: Optional[Path] = _root_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the study as JSON."),
) -> None:
    """Print and validate a study's resolved search space."""
    from torchsweep.sweeps.study.catalog import resolve

    spec = resolve(study, _root(root), param, set_)
    if as_json:
        typer.echo(json.dumps(spec.to_dict()))
    else:
        output.space_table(spec)


@command(name="list")
def list_(
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Bundled studies, and the studies in the storage with their trial counts and best value."""
    from torchsweep.sweeps.study.catalog import bundled_names
    from torchsweep.sweeps.readout.trials import list_studies

    studies = list_studies(_root(root), storage)
    if as_json:
        typer.echo(json.dumps({"bundled": bundled_names(), "studies": studies}))
    else:
        output.studies_table(bundled_names(), studies)


@command()
def show(
    study: StudyName,
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every trial of a study: state, params, value, epochs, pruned at, duration."""
    from torchsweep.sweeps.readout.trials import load_study, metric_name, trial_rows

    loaded = load_study(study, _root(root), storage)
    rows = trial_rows(loaded)
    if as_json:
        typer.echo(json.dumps({"study": study, "trials": [r.to_dict() for r in rows]}))
    else:
        output.trials_table(study, rows, metric_name(loaded))


@command()
def best(
    study: StudyName,
    export: Optional[Path] = typer.Option(None, "--export", file_okay=False,
                                          help="Write the best model (safetensors), its config, "
                                               "params and metrics into this folder."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial: params, metrics and checkpoint; optionally export it."""
    from torchsweep.sweeps.errors import ExportError
    from torchsweep.sweeps.readout.trials import best_row, load_study, metric_name

    root = _root(root)
    loaded = load_study(study, root, storage)
    row = best_row(loaded)
    if row is None:
        raise ExportError(f"study '{study}' has no completed trial yet")
    exported = None
    if export is not None:
        from torchsweep.sweeps.readout.export import export_best

        exported = export_best(loaded, root, export)
        if exported["passed_over"] and not as_json:
            output.notice(f"exported trial {exported['trial']}, the best whose checkpoint "
                          f"loads; passed over {'; '.join(exported['passed_over'])}")
    if as_json:
        typer.echo(json.dumps({"study": study, "metric": metric_name(loaded),
                               "best": row.to_dict(), "export": exported}))
    else:
        output.best_panel(study, row, metric_name(loaded), root, exported)


def _finite(value: Optional[float]) -> Optional[float]:
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number.")
    return value


@command()
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
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
) -> None:
    """One self-contained HTML page (works offline) of what the study found: its answer to the
    batch-size or label-smoothing question, learning curves, and the search."""
    from torchsweep.sweeps.readout.report.page import REPORT_FILE, build_report, write_html
    from torchsweep.sweeps.readout.trials import load_study

    root = _root(root)
    made = build_report(load_study(study, root, storage), root, target)
    page = write_html(made, out or root / study / REPORT_FILE)
    images = []
    if png is not None:
        from torchsweep.sweeps.readout.report.png import write_pngs

        images = write_pngs(made.plots, png)
    output.report_written(page, made, images)


@command()
def dashboard(
    study: StudyName,
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on; the dashboard can change and delete "
                                  "studies, so only this machine by default."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port; 0 picks a free one."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
) -> None:
    """Serve optuna-dashboard on the study's storage (live while trials run); Ctrl-C stops it."""
    from torchsweep.sweeps.readout.dashboard import Dashboard, is_local
    from torchsweep.sweeps.readout.trials import load_study
    from torchsweep.sweeps.storage import open_storage, storage_url

    root = _root(root)
    load_study(study, root, storage)  # an unknown study fails here, with its exit code
    server = Dashboard(open_storage(storage_url(root, storage), create=False), study, host,
                       port)
    if not is_local(host):
        output.notice(f"listening on {host}: anyone who can reach it can change and delete "
                      "the studies in this storage")
    output.dashboard_started(study, server.url)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass


@command()
def runs(
    study: StudyName,
    root: Optional[Path] = _root_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The study's W&B runs on disk (a run per trial, a study run per sweep), and whether
    each is synced."""
    from torchsweep.sweeps.tracking.local_runs import list_runs, runs_folder

    root = _root(root)
    found = list_runs(root, study)
    if as_json:
        typer.echo(json.dumps({"study": study, "folder": str(runs_folder(root, study)),
                               "runs": [run.to_dict() for run in found]}))
    else:
        output.runs_table(study, found, runs_folder(root, study))


@command()
def sync(
    study: StudyName,
    root: Optional[Path] = _root_option(),
    wandb_project: Optional[str] = typer.Option(None, "--wandb-project",
                                                help="Upload to this W&B project instead."),
    wandb_entity: Optional[str] = typer.Option(None, "--wandb-entity",
                                               help="Upload to this W&B entity instead."),
    timeout: float = typer.Option(600, "--timeout", callback=_positive,
                                  help="Give up after this many seconds; synced runs stay "
                                       "synced, and syncing again continues."),
) -> None:
    """Upload the study's offline W&B runs with W&B's own sync (`wandb sync`)."""
    from torchsweep.sweeps.tracking.local_runs import sync_runs

    synced = sync_runs(_root(root), study, project=wandb_project, entity=wandb_entity,
                       timeout=timeout)
    output.synced(study, synced)


def _exit_code(error: BaseException) -> int | None:
    """Exit codes for errors a user can fix (listed in the README); None for bugs."""
    from torchsweep.sweeps.readout.dashboard import DashboardError
    from torchsweep.sweeps.errors import ExportError, StorageError, StudyError, StudyNotFound, UnknownStudy
    from torchsweep.sweeps.tracking.local_runs import SyncError
    from torchsweep.sweeps.readout.report.png import ImageError
    from torchsweep.sweeps.study.space import SpaceError
    from torchsweep.sweeps.engine.workers import WorkerError
    from torchsweep.trainer.errors import CheckpointError, ConfigError, DataError, WriteError

    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        return 7
    codes = ((WorkerError, 1), (ConfigError, 2), (SpaceError, 2), (StudyError, 2),
             (UnknownStudy, 3), (StudyNotFound, 3), (StorageError, 4), (WriteError, 7),
             (CheckpointError, 5), (ExportError, 5), (DataError, 6), (SyncError, 9),
             (DashboardError, 2), (ImageError, 10))
    return next((code for kind, code in codes if isinstance(error, kind)), None)


# A full disk can strike any write, ours or a library's: each is one line and exit code 7.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"cannot write {error.filename}: {error.strerror}"
    return str(error)
