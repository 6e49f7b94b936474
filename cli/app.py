"""The `sweep` command line. Thin: parse, validate at the boundary, call sweeps/trainer, print.

Heavy modules (torch, optuna) are imported inside the commands that need them, so
`sweep --help` and the listing commands start fast.
"""
from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from cli import output

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
            except Exception as error:  # the boundary: one line, never a traceback
                code = _exit_code(error)
                if code is None:
                    raise
                output.error(str(error))
                raise typer.Exit(code) from None
        return app.command(**settings)(guarded)
    return register


def _positive(value: Optional[float]) -> Optional[float]:
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not > 0.")
    return value


def _root(root: Optional[Path]) -> Path:
    from sweeps.storage import default_root

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
) -> None:
    """Train once, without Optuna: settings from defaults < --config < --set."""
    import time

    import yaml

    from trainer.config import TrainConfig
    from trainer.errors import ConfigError

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

    from trainer.loop import fit

    result = fit(resolved, out_dir=out, resume_from=resume,
                 progress=not (quiet or as_json) and sys.stderr.isatty())
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    elif not quiet:
        output.epochs_table(result)


@command()
def run(
    study: str = typer.Argument(..., help="A bundled study, a YAML study file, or a new name "
                                "with --param."),
    param: List[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", min=1,
                                         help="Trials to run now [default: the study's, else 20]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", callback=_positive,
                                            help="Stop starting trials after this many seconds."),
    sampler: Optional[Sampler] = typer.Option(None, "--sampler", help="Overrides the study's method."),
    pruner: Optional[Pruner] = typer.Option(None, "--pruner", help="Overrides the study's pruner."),
    seed: int = typer.Option(0, "--seed", min=0, help="Sampler seed."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    keep_top_k: Optional[int] = typer.Option(None, "--keep-top-k", min=1,
                                             help="Best checkpoints kept [default: 3]."),
    wandb: Optional[WandbMode] = typer.Option(None, "--wandb", help="W&B mode [default: online "
                                              "with credentials, else offline]."),
    wandb_project: Optional[str] = typer.Option(None, "--wandb-project", help="W&B project."),
    wandb_entity: Optional[str] = typer.Option(None, "--wandb-entity", help="W&B entity."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
    max_failures: int = typer.Option(3, "--max-failures", min=1,
                                     help="Stop after this many failed trials in a row."),
    allow_space_change: bool = typer.Option(False, "--allow-space-change",
                                            help="Continue a study whose search space changed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
) -> None:
    """Create or continue a study and run its trials, pruning the ones that fall behind."""
    from sweeps.catalog import resolve
    from sweeps.orchestrate import RunOptions, run_study

    root = _root(root)
    spec = resolve(study, root, param, set_)
    if spec.ignored and not as_json:
        output.notice(f"{spec.source}: {', '.join(spec.ignored)} do not apply to local "
                      "sweeps and are ignored")
    options = RunOptions(root=root, storage=storage, trials=trials, timeout=timeout,
                         sampler=sampler.value if sampler else None,
                         pruner=pruner.value if pruner else None, seed=seed,
                         keep_top_k=keep_top_k, wandb=wandb.value if wandb else None,
                         wandb_project=wandb_project, wandb_entity=wandb_entity, device=device,
                         max_failures=max_failures, allow_space_change=allow_space_change)
    if as_json:
        outcome = run_study(spec, options)
    else:
        with output.LiveView(spec) as view:
            outcome = run_study(spec, options, observer=view)
    from sweeps.results import best_row, trial_rows

    rows, best = trial_rows(outcome.study), best_row(outcome.study)
    if as_json:
        typer.echo(json.dumps({"study": spec.name, "storage": outcome.storage_shown,
                               "ran": outcome.ran, "trials": [r.to_dict() for r in rows],
                               "best": best.to_dict() if best else None,
                               "kept_checkpoints": outcome.kept}))
    else:
        output.top_trials(spec.name, rows, spec.metric, outcome.kept)


@command()
def space(
    study: str = typer.Argument(..., help="A bundled study, a YAML study file, or a new name."),
    param: List[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    root: Optional[Path] = _root_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the study as JSON."),
) -> None:
    """Print and validate a study's resolved search space."""
    from sweeps.catalog import resolve

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
    from sweeps.catalog import bundled_names
    from sweeps.results import list_studies

    studies = list_studies(_root(root), storage)
    if as_json:
        typer.echo(json.dumps({"bundled": bundled_names(), "studies": studies}))
    else:
        output.studies_table(bundled_names(), studies)


@command()
def show(
    study: str = typer.Argument(..., help="Study name."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every trial of a study: state, params, value, epochs, pruned at, duration."""
    from sweeps.results import load_study, metric_name, trial_rows

    loaded = load_study(study, _root(root), storage)
    rows = trial_rows(loaded)
    if as_json:
        typer.echo(json.dumps({"study": study, "trials": [r.to_dict() for r in rows]}))
    else:
        output.trials_table(study, rows, metric_name(loaded))


@command()
def best(
    study: str = typer.Argument(..., help="Study name."),
    export: Optional[Path] = typer.Option(None, "--export", file_okay=False,
                                          help="Write the best model (safetensors), its config, "
                                               "params and metrics into this folder."),
    root: Optional[Path] = _root_option(),
    storage: Optional[str] = _storage_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial: params, metrics and checkpoint; optionally export it."""
    from sweeps.errors import ExportError
    from sweeps.results import best_row, load_study, metric_name

    root = _root(root)
    loaded = load_study(study, root, storage)
    row = best_row(loaded)
    if row is None:
        raise ExportError(f"study '{study}' has no completed trial yet")
    exported = None
    if export is not None:
        from sweeps.export import export_best

        exported = export_best(loaded, root, export)
    if as_json:
        typer.echo(json.dumps({"study": study, "metric": metric_name(loaded),
                               "best": row.to_dict(), "export": exported}))
    else:
        output.best_panel(study, row, metric_name(loaded), root, exported)


def _exit_code(error: BaseException) -> int | None:
    """Exit codes for errors a user can fix (listed in the README); None for bugs."""
    from sweeps.errors import ExportError, StorageError, StudyError, StudyNotFound, UnknownStudy
    from sweeps.space import SpaceError
    from trainer.errors import CheckpointError, ConfigError, DataError

    codes = ((ConfigError, 2), (SpaceError, 2), (StudyError, 2), (UnknownStudy, 3),
             (StudyNotFound, 3), (StorageError, 4), (CheckpointError, 5), (ExportError, 5),
             (DataError, 6))
    return next((code for kind, code in codes if isinstance(error, kind)), None)
