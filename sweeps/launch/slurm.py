"""`sweep launch slurm`: a study's workers as one Slurm job array, submitted through submitit.

Each array task runs the loop of `sweep worker` (`orchestrate.join_study`): it reads the study
from the storage, claims queued trials until none is queued or running, and leaves. So the
storage must be a database server that every node reaches: the locks of a journal or SQLite
file do not hold on a shared filesystem such as NFS.

What becomes of the running trial when Slurm stops a job:
- SIGTERM (preemption, `scontrol requeue`, `scancel`): the engine fails it as `preempted` and
  queues its retry, which resumes from its checkpoint; the worker exits with 143. A requeued job
  starts again later and its worker claims the retry.
- SIGUSR2, which submitit has Slurm send 90 s before the time limit: the trial is given back as
  on SIGTERM, then submitit checkpoints this callable (it holds no state: the study lives in the
  storage) and requeues the job, which continues the study after the limit.

The storage URL travels in the job's environment (SWEEP_STORAGE), which Slurm keeps in its own
state, and not in submitit's pickle under the study's folder: a password stays off the shared
disk. The arrays are recorded on the study, so `sweep launch slurm status` and `cancel` find
them from any machine; each trial records the array task that ran it.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import submitit

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.function import reference
from torchsweep.sweeps.engine.objective import Observer
from torchsweep.sweeps.engine.orchestrate import join_study, study_spec
from torchsweep.sweeps.engine.run_options import RunOptions
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.sweeps.errors import SchedulerError, StorageError
from torchsweep.sweeps.launch.slurm_resources import SlurmResources, minutes
from torchsweep.sweeps.readout.trials import STATE_NAMES, load_study
from torchsweep.sweeps.storage import STORAGE_ENV, mask_password, storage_url
from torchsweep.trainer.errors import ConfigError

# Requeues after a time limit before submitit gives up: a long study is many short jobs.
MAX_REQUEUES = 1000
CANCEL_WAIT = 120.0            # seconds `cancel` waits for the jobs' workers to give back trials
_ENDED = "ENDED"               # a job Slurm no longer lists (it ended a while ago)
_ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING",
           "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED")


@dataclass(frozen=True)
class Submitted:
    array: str                          # the array's job id
    jobs: list[str]                     # its tasks, ARRAY_TASK
    logs: Path                          # submitit's folder: each task's stdout and stderr


def require_server(url: str) -> None:
    """A cluster's workers share a study through a database server, never through a file."""
    if "://" not in url or url.startswith("sqlite"):
        raise ConfigError("--storage", f"{mask_password(url)} is a file, and Slurm's jobs run on "
                          "other nodes: a journal or SQLite file's locks do not hold on a shared "
                          "filesystem such as NFS; give a server every node reaches, "
                          "postgresql://, mysql:// or redis://")


def submit(study: str, options: RunOptions, resources: SlurmResources,
           observer: Observer | None = None) -> Submitted:
    """Submit `resources.jobs` workers for `study` as one job array; returns its ids. Each
    job's worker tells `observer` (a copy of it, pickled) of its trials: what its log shows."""
    url = storage_url(options.root, options.storage)
    require_server(url)
    found = load_study(study, options.root, options.storage)
    # A study the workers can run (a function they can import), before anything is submitted.
    reference.check(study_spec(found, study), None)
    _require_command("sbatch")
    root = Path(options.root).resolve()   # the jobs may start in another folder
    logs = root / study / "slurm"
    executor = submitit.SlurmExecutor(folder=logs / "%j", max_num_timeout=MAX_REQUEUES)
    parameters: dict[str, Any] = {
        "job_name": f"sweep-{study}", "time": minutes(resources.time),
        "array_parallelism": resources.jobs, "partition": resources.partition,
        "cpus_per_task": resources.cpus_per_task, "mem": resources.mem,
        "gpus_per_node": resources.gpus_per_job or None,
        "additional_parameters": resources.extra or None}
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    # GPU k of a job is its k-th allocated GPU (workers.WorkerSlot.environment).
    gpus = tuple(str(index) for index in range(resources.gpus_per_job))
    worker = SlurmWorker(study, replace(options, root=root, storage=None, workers=1, gpus=gpus),
                         observer)
    with _environment(STORAGE_ENV, url), _quiet_stderr() as said:
        try:
            jobs = executor.map_array(worker, range(resources.jobs))
        except submitit.core.utils.FailedJobError as error:
            reason = (str(error).strip() or said.getvalue().strip()).splitlines()
            raise SchedulerError(f"sbatch refused the jobs: "
                                 f"{reason[0] if reason else error}") from None
    array = jobs[0].job_id.split("_")[0]
    attrs.add_slurm_array(found, array)
    return Submitted(array=array, jobs=[job.job_id for job in jobs], logs=logs)


class SlurmWorker(submitit.helpers.Checkpointable):
    """What each array task runs: `sweep worker STUDY`, in the job. Checkpointable, so that
    submitit requeues it at the time limit; it holds no state of its own to save."""

    def __init__(self, study: str, options: RunOptions, observer: Observer | None = None) -> None:
        self.study, self.options, self.observer = study, options, observer

    def __call__(self, task: int) -> int:
        job = submitit.JobEnvironment().job_id     # ARRAY_TASK, recorded on each trial
        requeue = signal.getsignal(signal.SIGUSR2)  # submitit's: checkpoint, requeue, exit
        time_limit = _watch_time_limit()
        try:
            return join_study(self.study, replace(self.options, job=job), self.observer).ran
        except Stopped as stop:   # the running trial was given back, queued to resume
            if time_limit.is_set():
                requeue(signal.SIGUSR2, None)
            raise SystemExit(stop.exit_code) from None
        except StorageError as error:   # one line in the job's log, as `sweep worker` says it
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(error.exit_code) from None


def status(study: str, root: Path, storage: str | None) -> list[dict[str, Any]]:
    """The study's Slurm jobs, each with its state (as squeue says, ENDED once Slurm forgot
    it), where it runs or why it waits, and the trials its worker ran."""
    found = load_study(study, root, storage)
    arrays = attrs.slurm_arrays(found)
    listed = _squeue(arrays)
    trials: dict[str, list[dict[str, Any]]] = {}
    for trial in found.get_trials(deepcopy=False):
        job = attrs.job(trial)
        if job and job.split("_")[0] in arrays:
            trials.setdefault(job, []).append({"number": trial.number,
                                               "state": STATE_NAMES[trial.state],
                                               "reason": attrs.reason(trial)})
    jobs = sorted(set(listed) | set(trials), key=_job_order)
    return [{"job": job, "state": listed.get(job, (_ENDED, ""))[0],
             "where": listed.get(job, (_ENDED, ""))[1], "trials": trials.get(job, [])}
            for job in jobs]


def cancel(study: str, root: Path, storage: str | None) -> dict[str, list]:
    """scancel the study's jobs and wait until their workers have given their trials back
    (failed as preempted, each queued to resume). Returns the jobs cancelled and those trials."""
    found = load_study(study, root, storage)
    arrays = attrs.slurm_arrays(found)
    active = [job for job, (state, _) in _squeue(arrays).items() if state in _ACTIVE]
    if active:
        _run("scancel", *arrays)
    deadline = time.monotonic() + CANCEL_WAIT
    while any(state in _ACTIVE for state, _ in _squeue(arrays).values()):
        if time.monotonic() > deadline:
            raise SchedulerError(f"the jobs of study '{study}' were cancelled but still run "
                                 f"after {CANCEL_WAIT:.0f} s; see `squeue -j {','.join(arrays)}`")
        time.sleep(0.5)
    given_back = [t.number for t in load_study(study, root, storage).get_trials(deepcopy=False)
                  if attrs.job(t) in active and attrs.reason(t) == "preempted"]
    return {"jobs": sorted(active, key=_job_order), "trials": sorted(given_back)}


def _watch_time_limit() -> threading.Event:
    """Turn the time-limit warning (SIGUSR2) into a preemption (SIGTERM) of this process, and
    return the event that says it came. Slurm signals every process of the job, and the
    warning's default action would kill the worker processes mid-trial: it is blocked here, so
    the processes started from here inherit the block, and a thread of ours waits for it. Our
    handler replaces submitit's, whose requeue would exit while the trial still runs."""
    arrived = threading.Event()

    def warned(*_) -> None:
        if not arrived.is_set():
            arrived.set()
            os.kill(os.getpid(), signal.SIGTERM)

    def wait() -> None:
        signal.sigwait({signal.SIGUSR2})
        warned()

    signal.signal(signal.SIGUSR2, warned)   # should another thread be the one it reaches
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    threading.Thread(target=wait, name="sweep-time-limit", daemon=True).start()
    return arrived


def _squeue(arrays: list[str]) -> dict[str, tuple[str, str]]:
    """{ARRAY_TASK: (state, node or pending reason)} for the tasks Slurm still lists."""
    listed: dict[str, tuple[str, str]] = {}
    for array in arrays:   # one at a time: squeue refuses a whole list when one id is forgotten
        try:
            out = _run("squeue", "--noheader", "--array", "--states=all", "--jobs", array,
                       "--format=%i|%T|%R")
        except SchedulerError as error:
            if "Invalid job id" in str(error):
                continue
            raise
        for line in out.splitlines():
            job, state, where = line.strip().split("|", 2)
            listed[job] = (state, where.strip("()"))
    return listed


def _run(*command: str) -> str:
    _require_command(command[0])
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if ran.returncode != 0:
        said = (ran.stderr.strip() or ran.stdout.strip() or f"exit code {ran.returncode}")
        raise SchedulerError(f"{command[0]} failed: {said.splitlines()[0]}")
    return ran.stdout


def _require_command(name: str) -> None:
    if shutil.which(name) is None:
        raise SchedulerError(f"{name} not found: Slurm's commands are not installed on this "
                             "machine; run `sweep launch slurm` on a login node of the cluster")


def _job_order(job: str) -> tuple[int, int]:
    array, _, task = job.partition("_")
    return (int(array) if array.isdigit() else 0, int(task) if task.isdigit() else -1)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[io.StringIO]:
    """submitit prints sbatch's complaint itself; the CLI says it once, in its own line."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        yield said
