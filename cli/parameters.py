"""Options that several commands share, declared once; their choices and defaults are imported
from where the engine defines them."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterable, List, Optional, cast

import typer

from torchsweep.sweeps.engine import run_options as defaults
from torchsweep.sweeps.study import PRUNERS, SAMPLERS
from torchsweep.sweeps.tracking.choices import (
    CHECKPOINT_ARTIFACTS,
    DEFAULT_CHECKPOINT_ARTIFACTS,
    MODES,
)


def _choices(name: str, values: Iterable[str]) -> type[Enum]:
    # Enum's functional API makes a class; its stub, given names it cannot see, says a member.
    return cast(type[Enum], Enum(name, [(value, value) for value in values], type=str))


if TYPE_CHECKING:   # each an Enum of the engine's words, made below for typer to list
    Sampler = Enum
    Pruner = Enum
    WandbMode = Enum
    LogCheckpoints = Enum
else:
    Sampler = _choices("Sampler", SAMPLERS)
    Pruner = _choices("Pruner", PRUNERS)
    WandbMode = _choices("WandbMode", MODES)
    LogCheckpoints = _choices("LogCheckpoints", CHECKPOINT_ARTIFACTS)


def value(choice: Enum | None) -> str | None:
    return choice.value if choice is not None else None


def word(choice: Enum) -> str:
    """The word a choice stands for."""
    return str(choice.value)


def positive(number: Optional[float]) -> Optional[float]:
    if number is not None and number <= 0:
        raise typer.BadParameter(f"{number:g} is not > 0.")
    return number


def budget(text: Optional[str]):
    """--budget's text as a Budget (None when not given); a usage error when unreadable."""
    from torchsweep.sweeps.engine.budget import Budget, BudgetError

    try:
        return Budget.parse(text) if text is not None else None
    except BudgetError as error:
        raise typer.BadParameter(str(error), param_hint="'--budget'") from None


def function_ref(text: Optional[str]) -> Optional[str]:
    from torchsweep.sweeps.study.function_ref import parse_function_ref

    if text is not None:
        try:
            parse_function_ref(text, "--function")
        except ValueError as error:
            raise typer.BadParameter(str(error).removeprefix("--function: ")) from None
    return text


def gpu_list(text: Optional[str]) -> Optional[str]:
    from torchsweep.sweeps.engine.workers import parse_gpus

    if text is not None:
        try:
            parse_gpus(text)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return text


def root(given: Optional[Path]) -> Path:
    """--root, else SWEEP_ROOT, else ./runs."""
    from torchsweep.sweeps.storage import default_root

    return given or default_root()


PARAM_HELP = ("Search dimension NAME=SPEC (repeatable): a,b,c (choices) | LOW..HIGH (uniform; "
              "int when both ints) | log:LOW..HIGH (log-uniform) | LOW..HIGH:STEP (stepped) | "
              "VALUE (fixed). E.g. --param batch_size=16,32,64 --param lr=log:1e-4..1e-1")
SET_HELP = "Fix a training setting NAME=VALUE (repeatable), e.g. --set epochs=5"

RootOption = Annotated[Optional[Path], typer.Option(
    "--root", show_default="./runs",   # SWEEP_ROOT is read in one place, storage.default_root
    help="Folder for studies' checkpoints, metrics and W&B runs (env SWEEP_ROOT).")]
StorageOption = Annotated[Optional[str], typer.Option(
    "--storage",                        # SWEEP_STORAGE: storage.storage_url
    help="Optuna storage URL (postgresql://, mysql+pymysql://, sqlite:///, redis://); default: "
         "an embedded journal file under the root.")]
# A study to define or run, and one already in the storage.
StudySource = Annotated[str, typer.Argument(
    help="A bundled study, a YAML study file, or a new name with --param.")]
StudyName = Annotated[str, typer.Argument(help="Study name.")]
ParamOption = Annotated[List[str], typer.Option("--param", "-p", help=PARAM_HELP)]
SetOption = Annotated[List[str], typer.Option("--set", help=SET_HELP)]
TrialsOption = Annotated[Optional[int], typer.Option(
    "--trials", "-n", min=1, help=f"Trials to add to the study's queue (default: the study's, "
    f"else {defaults.DEFAULT_TRIALS}; none when an interrupted run left queued trials, which run "
    f"first).")]
RepeatsOption = Annotated[Optional[int], typer.Option(
    "--repeats", min=1, help="Seeds each configuration trains with (seed, seed+1, ...); its "
    "value is their mean, their spread is kept (default: the study's repeats, else 1). With "
    "repeats the Wilcoxon pruner compares seeds.")]
SamplerOption = Annotated[Optional[Sampler], typer.Option(
    "--sampler", help="Overrides the study's method.")]
PrunerOption = Annotated[Optional[Pruner], typer.Option(
    "--pruner", help="Overrides the study's pruner.")]
PruneWithinOption = Annotated[Optional[str], typer.Option(
    "--prune-within", metavar="PARAMETER", help="Prune each trial only against the trials "
    "with its own value of this parameter (e.g. batch_size: each batch size's learning rates "
    "compete among themselves).")]
KeepTopKOption = Annotated[Optional[int], typer.Option(
    "--keep-top-k", min=1, help=f"Best checkpoints kept (default: {defaults.DEFAULT_KEEP_TOP_K}).")]
TimeoutOption = Annotated[Optional[float], typer.Option(
    "--timeout", callback=positive, help="Stop starting trials after this many seconds.")]
BudgetOption = Annotated[Optional[str], typer.Option(
    "--budget", metavar="200e|2h", help="Compute this run may spend: epochs trained (200e; a "
    "pruned trial counts the part it trained) or device-hours summed over workers (2h). No "
    "trial starts that could take the run past it; without --trials, trials are queued for as "
    "long as it lasts. The run says what it spent.")]
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
    "--gpus", callback=gpu_list, help="GPUs to use, e.g. 0,1: one worker per GPU, each seeing "
    "only its own.")]
WorkersPerGpuOption = Annotated[int, typer.Option(
    "--workers-per-gpu", min=1, help="Workers sharing each GPU of --gpus (small trials).")]
MaxRetriesOption = Annotated[int, typer.Option(
    "--max-retries", min=0, help="Retries of a trial whose worker died or was stopped; a retry "
    "has the same settings and resumes from the trial's last checkpoint.")]
HeartbeatOption = Annotated[float, typer.Option(
    "--heartbeat", callback=positive, help="Seconds between a running trial's heartbeats; a "
    "trial silent for 6 of them is taken as lost and retried.")]
TrialTimeoutOption = Annotated[Optional[float], typer.Option(
    "--trial-timeout", callback=positive, help="Stop a user's program (program: studies) that "
    "logs nothing to W&B for this many seconds; its trial fails as timed_out.")]
FunctionOption = Annotated[Optional[str], typer.Option(
    "--function", callback=function_ref, metavar="MODULE:FUNCTION",
    help="Your own training function, package.module:function, importable from here: each "
         "trial calls it with the trial (or, with no argument, as W&B's agent calls one). A "
         "study made in Python records its function; this replaces it.")]
StorageGraceOption = Annotated[float, typer.Option(
    "--storage-grace", envvar="SWEEP_STORAGE_GRACE", min=0, help="Seconds to wait for an "
    "unreachable storage (a database restart, a failover, a network blip), retrying, before "
    "giving up with exit code 4; the trials it ran are retried by the next run.")]
ArtifactsOption = Annotated[Optional[str], typer.Option(
    "--artifacts", help="Optuna artifact store that each trial's last.pt is uploaded to after "
    "every epoch, for a retry on another machine: a folder, or s3://BUCKET/PREFIX (the prefix "
    "optional).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")]

DEFAULT_LOG_CHECKPOINTS = LogCheckpoints(DEFAULT_CHECKPOINT_ARTIFACTS)
