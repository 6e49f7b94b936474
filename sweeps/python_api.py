"""Sweeps from Python: `import torchsweep as ts`, the same engine that `sweep` drives.

A study runs the user's own function, W&B's kind of function, or the trainer:

    study = ts.Study("sweep.yaml", root="runs")        # or a dict in W&B's schema
    def train(trial):                                  # the user's own model, data and loop
        state = trial.load_checkpoint() or new_state(trial.params)
        for epoch in range(state["epoch"], trial.params["epochs"]):
            trial.report(val_loss=run_epoch(state), step=epoch)   # W&B, and the pruner
            trial.save_checkpoint(state)
    result = study.run(train, trials=30, workers=2)
    result.best.params; result.export("best/"); result.report("report.html")

and W&B's own code runs unchanged: `sweep_id = ts.sweep(config)`, then `ts.agent(sweep_id,
function=main, count=N)` where main() calls wandb.init() and wandb.log.

Each worker is a process of its own that runs many trials (the function travels there by
cloudpickle; a notebook is never taken down by a trial), unless `in_process=True` runs them
here, for a debugger. The study lives where the CLI's do (`root`, `storage`), so `sweep show`,
`best`, `report`, `dashboard` and `worker` read and join it, and `Study(name)` opens one the
CLI made.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from torchsweep.sweeps.engine import run_options as defaults
from torchsweep.sweeps.engine.function.handle import Pruned, Trial
from torchsweep.sweeps.engine.function import reference
from torchsweep.sweeps.engine.function.reference import PENDING
from torchsweep.sweeps.errors import StudyError

if TYPE_CHECKING:
    import optuna

    from torchsweep.sweeps.readout.export import Export
    from torchsweep.sweeps.readout.trials import TrialRecord
    from torchsweep.sweeps.study import StudySpec

__all__ = ["Study", "Result", "Trial", "Pruned", "sweep", "agent"]


class Study:
    """A study: a W&B sweep configuration, where it is kept, and how its trials are tracked.

    Args:
        config: a W&B sweep file's path, a dict in W&B's schema, or the name of a study
            the CLI or an earlier run made under `root` (or a bundled study's name).
        name: the study's name (default: the file's stem, the dict's `name`, else `study`).
        storage: where trials are kept: an Optuna storage URL (postgresql://...), as
            `sweep --storage`; default: a journal file under `root`.
        root: the folder of trial folders, W&B runs and reports (`sweep --root`; default:
            SWEEP_ROOT, else ./runs).
        wandb: online, offline or disabled (default: as `sweep run`: WANDB_MODE, else
            online with credentials, else offline).
        wandb_project: the W&B project of the trials' runs (default: the file's `project:`).
    """

    def __init__(self, config: str | Path | Mapping[str, Any], *, name: str | None = None,
                 storage: str | None = None, root: str | Path | None = None,
                 wandb: str | None = None, wandb_project: str | None = None) -> None:
        from torchsweep.sweeps.errors import SpaceError

        from torchsweep.sweeps.storage import default_root

        self.config, self.storage = config, storage
        self.root = Path(root) if root is not None else default_root()
        self.wandb, self.wandb_project = wandb, wandb_project
        self.name = name
        try:   # the trainer's settings, or a program's file; else a function's file
            spec = self._spec(None, notices=False)
        except SpaceError:
            spec = self._spec(PENDING, notices=False)
        self.name = spec.name

    def run(self, function: Callable[..., Any] | None = None, *, trials: int | None = None,
            workers: int = 1, gpus: str | None = None, workers_per_gpu: int = 1,
            in_process: bool = False, timeout: float | None = None,
            sampler: str | None = None, pruner: str | None = None,
            seed: int | None = defaults.DEFAULT_SEED, keep_top_k: int | None = None,
            max_retries: int = defaults.DEFAULT_MAX_RETRIES,
            heartbeat: float = defaults.DEFAULT_HEARTBEAT,
            trial_timeout: float | None = None) -> "Result":
        """Queue `trials` trials (as `sweep run`: the file's `trials:`, a grid's size, else
        20) and run them on `workers` worker processes; returns when none is queued or running.

        Args:
            function: the training function: `train(trial)` gets a `Trial`; a function of no
                argument is W&B's kind (it calls wandb.init() and logs its metric to W&B).
                None runs the trainer (or the file's program:), as `sweep run` does.
            trials: trials to add to the queue (run again, a study continues).
            workers: worker processes, each running trials until the queue is empty.
            gpus: one worker per GPU instead, `"0,1"` (indices or UUIDs, as `sweep run
                --gpus`); each sees only its own GPU, as `cuda`.
            workers_per_gpu: workers sharing each GPU.
            in_process: run the trials in this process, one at a time (for a debugger).
            timeout: seconds after which no trial starts.
            sampler: a sampler's name, as the file's `sampler:` (`sweep run --sampler`).
            pruner: a pruner's name, as the file's `pruner:` (`sweep run --pruner`).
            seed: the sampler's seed (worker k: seed + k); None for a random one.
            keep_top_k: trials whose folders are kept (default: the file's, else 3).
            max_retries: retries of a trial whose worker died or was stopped; a retry gets its
                last `save_checkpoint` back from `load_checkpoint`.
            heartbeat: seconds between a running trial's heartbeats; a trial silent for a few
                is judged lost and retried.
            trial_timeout: seconds a W&B-style function may go without logging.
        """
        from torchsweep.sweeps.engine.orchestrate import run_study

        if in_process and (workers != 1 or gpus):
            raise StudyError(f"in_process runs one worker, here; workers={workers}"
                             f"{f', gpus={gpus}' if gpus else ''} asks for processes of their own")
        from torchsweep.sweeps.engine.workers import parse_gpus

        spec = self._spec(reference.reference_of(function) if function is not None else None)
        options = defaults.RunOptions(
            root=self.root, storage=self.storage, trials=trials, timeout=timeout,
            sampler=sampler, pruner=pruner, seed=seed, keep_top_k=keep_top_k, wandb=self.wandb,
            wandb_project=self.wandb_project, workers=workers, max_retries=max_retries,
            gpus=parse_gpus(gpus) if gpus else (), workers_per_gpu=workers_per_gpu,
            heartbeat=heartbeat, trial_timeout=trial_timeout,
            given_function=function if in_process or function is None else
            reference.pickled(function),
            in_process=in_process if function is not None else None)
        run_study(spec, options)
        return self.result()

    def create(self, function: Callable[..., Any] | None = None, *,
               trials: int | None = None) -> int:
        """Create the study and queue `trials` trials without running them, as `sweep
        create`: `sweep worker` (`--function` when `function` is not importable) and `sweep
        launch` run them on any machine that reaches the storage. Returns how many it queued."""
        from torchsweep.sweeps.engine.orchestrate import create_study

        spec = self._spec(reference.reference_of(function) if function is not None else None)
        pickled = reference.pickled(function) if function is not None else None
        return create_study(spec, defaults.RunOptions(
            root=self.root, storage=self.storage, trials=trials,
            wandb_project=self.wandb_project, given_function=pickled)).queued

    def result(self) -> "Result":
        """The study's trials as they are now (it may be running elsewhere)."""
        return Result(name=self.name, root=self.root, storage=self.storage)

    def _spec(self, function: str | None, notices: bool = True) -> "StudySpec":
        """The study, running `function` (`package.module:name`) when given."""
        from torchsweep.sweeps.study import parse_study, resolve

        given = function
        if isinstance(self.config, Mapping):
            spec = parse_study(dict(self.config), name=str(self.config.get("name", "study")),
                               source="config", function=given)
        else:
            spec = resolve(str(self.config), self.root, function=given)
        if self.name and spec.name != self.name:
            import dataclasses

            spec = dataclasses.replace(spec, name=self.name)
        for notice in spec.notices() if notices else ():
            warnings.warn(f"{spec.source}: {notice}", stacklevel=3)
        return spec


@dataclass(frozen=True)
class Result:
    """A study's outcome, read from its storage: the trials, the best one, its export and the
    report. The same values `sweep show --json`, `sweep best` and `sweep report` give."""

    name: str
    root: Path
    storage: str | None = None

    @property
    def trials(self) -> list["TrialRecord"]:
        """Every trial in number order: state, params, value, where it was pruned, and more."""
        from torchsweep.sweeps.readout.trials import records

        return records(self._study(), self.root)

    @property
    def best(self) -> "TrialRecord | None":
        """The best completed trial (`.params`, `.value`, `.checkpoint`: its kept folder);
        None when none completed or the study has no metric."""
        from torchsweep.sweeps import attrs
        from torchsweep.sweeps.readout.trials import best_record

        study = self._study()
        return best_record(study) if attrs.has_metric(study) else None

    def export(self, directory: str | Path, trial: int | None = None) -> "Export":
        """Write the best trial (or `trial`) into `directory`, as `sweep best --export`: its
        folder (what it saved, its last checkpoint), params.json and metrics.json."""
        from torchsweep.sweeps.readout.export import export_best

        return export_best(self._study(), self.root, Path(directory), trial)

    def report(self, path: str | Path | None = None) -> Path:
        """Write the study's HTML report (default: <root>/<study>/report.html), as `sweep
        report`; returns its path."""
        from torchsweep.sweeps.readout.report.page import REPORT_FILE, build_report, write_html

        made = build_report(self._study(), self.root)
        return write_html(made, Path(path) if path else self.root / self.name / REPORT_FILE)

    def _study(self) -> "optuna.Study":
        from torchsweep.sweeps.readout.trials import load_study

        return load_study(self.name, self.root, self.storage)


def sweep(sweep: Mapping[str, Any], *, project: str | None = None, root: str | Path | None = None,
          storage: str | None = None) -> str:
    """W&B's `wandb.sweep(config)`, kept locally: creates the study (without queuing trials)
    and returns its id, the study's name, for `agent`."""
    from torchsweep.sweeps.engine.orchestrate import create_study

    config = {**sweep, **({"project": project} if project else {})}
    study = Study(config, root=root, storage=storage)
    spec = study._spec(PENDING)
    create_study(spec, defaults.RunOptions(root=study.root, storage=storage, trials=0))
    return spec.name


def agent(sweep_id: str, function: Callable[[], Any], count: int | None = None, *,
          project: str | None = None, root: str | Path | None = None,
          storage: str | None = None, workers: int = 1, in_process: bool = False) -> "Result":
    """W&B's `wandb.agent(sweep_id, function=main, count=N)`: runs `count` trials of the
    study `sweep` made (default: as many as its file asks), each calling `function` as W&B's
    agent does: wandb.init() there gets the trial's run and wandb.config its values; its
    metric is read from that run, and a pruned trial's run ends marked stopped."""
    from torchsweep.sweeps.readout.trials import load_study
    from torchsweep.sweeps.engine.orchestrate import study_spec

    study = Study(sweep_id, root=root, storage=storage, wandb_project=project)
    study.config = study_spec(load_study(sweep_id, study.root, storage), sweep_id).to_dict()
    return study.run(function, trials=count, workers=workers, in_process=in_process)

