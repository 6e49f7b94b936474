"""What a run of a study can be asked: `RunOptions`, and the defaults the CLI shows.

Optuna- and torch-free, so the command line imports it to build its options and help texts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from torchsweep.sweeps.storage import DEFAULT_GRACE
from torchsweep.sweeps.tracking.choices import DEFAULT_CHECKPOINT_ARTIFACTS

if TYPE_CHECKING:   # a type only: `sweep --help` does without the budget's module (and attrs)
    from torchsweep.sweeps.engine.budget import Budget

DEFAULT_TRIALS = 20         # trials a study without `trials:` queues
DEFAULT_KEEP_TOP_K = 3      # trials whose best checkpoint is kept
DEFAULT_MAX_RETRIES = 3     # retries of a trial whose worker died or was stopped
DEFAULT_MAX_FAILURES = 3    # failed trials in a row after which a worker stops
DEFAULT_HEARTBEAT = 10.0    # seconds between a running trial's heartbeats
DEFAULT_SEED = 0            # sampler seed of `sweep run` (local worker k: seed + k)


@dataclass(frozen=True)
class RunOptions:
    root: Path
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None          # seconds
    budget: Budget | None = None          # compute this run may spend (see `budget`)
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = DEFAULT_SEED       # None: a random seed (workers joining a study)
    keep_top_k: int | None = None
    wandb: str | None = None
    wandb_project: str | None = None
    wandb_entity: str | None = None
    device: str | None = None
    max_failures: int = DEFAULT_MAX_FAILURES
    allow_space_change: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    workers: int = 1                      # local worker processes
    gpus: tuple[str, ...] = ()            # one worker per GPU (times workers_per_gpu)
    workers_per_gpu: int = 1
    max_retries: int = DEFAULT_MAX_RETRIES
    heartbeat: float = DEFAULT_HEARTBEAT
    retry_failed: bool = False            # queue failed trials again, resuming their checkpoints
    restart_failed: bool = False          # queue failed trials again, from epoch 0
    log_checkpoints: str = DEFAULT_CHECKPOINT_ARTIFACTS   # kept checkpoints as W&B artifacts
    tensorboard: bool = False             # TensorBoard event files in each trial's folder
    trial_timeout: float | None = None    # seconds a user's program may go without logging
    artifacts: str | None = None          # artifact store URL that last.pt is uploaded to
    job: str | None = None                # the scheduler job this worker runs in (recorded)
    repeats: int | None = None            # seeds per configuration (None: the study's, else 1)
    storage_grace: float = DEFAULT_GRACE  # seconds to wait for an unreachable storage
    # What trains a trial's config, called as trainer.loop.fit is (None: fit itself);
    # bench/tabular's stand-in replays stored learning curves through it instead.
    trainer: Callable[..., Any] | None = None
    function: str | None = None           # --function: the study's function, to import
    # Study.run's function: itself for a worker in this process, else cloudpickled for theirs
    given_function: Callable[..., Any] | bytes | None = None
    in_process: bool | None = None        # run the one worker here (None: workers.in_process)
