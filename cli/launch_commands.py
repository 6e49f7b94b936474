"""`sweep launch slurm` and `sweep launch k8s`: a study's workers on a cluster's scheduler."""
from __future__ import annotations

import json
import re
from typing import List, Optional

import typer

from torchsweep.cli.boundary import app, command
from torchsweep.cli.parameters import (
    ArtifactsOption,
    HeartbeatOption,
    JsonOption,
    MaxFailuresOption,
    MaxRetriesOption,
    RootOption,
    StorageOption,
    StudyName,
    WandbOption,
    root,
    value,
)
from torchsweep.sweeps.engine import run_options as defaults
from torchsweep.sweeps.launch.slurm_resources import (
    DEFAULT_TIME,
    SlurmResources,
    minutes,
    sbatch_options,
)

launch = typer.Typer(no_args_is_help=True, help="Start a study's workers on a cluster: Slurm "
                     "job arrays, or a Kubernetes Job to apply.")
app.add_typer(launch, name="launch")

DEFAULT_SECRET = "sweep-storage"

JobsOption = typer.Option(1, "--jobs", "-j", min=1, help="Workers to start: Slurm jobs (one "
                          "job array) or pods.")
GpusPerJobOption = typer.Option(0, "--gpus-per-job", min=0, help="GPUs each job (pod) gets, "
                                "with one worker per GPU, as --gpus; 0: one CPU worker.")


def _slurm_time(text: str) -> str:
    try:
        minutes(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return text


def _memory(text: Optional[str]) -> Optional[str]:
    if text is not None and not re.fullmatch(r"\d+[KMGT]?", text):
        raise typer.BadParameter(f"{text!r} is not a size as sbatch takes it; expected e.g. "
                                 "16G or 4000M")
    return text


def _sbatch_options(pairs: List[str]) -> List[str]:
    try:
        sbatch_options(pairs)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return pairs


@command(on=launch)
def slurm(
    study: StudyName,
    jobs: int = JobsOption,
    gpus_per_job: int = GpusPerJobOption,
    partition: Optional[str] = typer.Option(None, "--partition", help="Slurm partition."),
    time_: str = typer.Option(DEFAULT_TIME, "--time", callback=_slurm_time, help="Each job's "
                              "time limit (MINUTES, H:MM:SS, D-HH:MM); at the limit the job is "
                              "requeued and its trial resumes."),
    cpus_per_task: Optional[int] = typer.Option(None, "--cpus-per-task", min=1,
                                                help="CPU cores per job."),
    mem: Optional[str] = typer.Option(None, "--mem", callback=_memory,
                                      help="Memory per job, e.g. 16G."),
    extra: List[str] = typer.Option([], "--slurm", callback=_sbatch_options, help="Any other "
                                    "sbatch option KEY=VALUE (repeatable), e.g. account=ml."),
    show_status: bool = typer.Option(False, "--status", help="Show the study's Slurm jobs "
                                     "and the trials each ran, and submit nothing."),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel the study's Slurm jobs; their "
                                "running trials are queued to resume."),
    root_: RootOption = None,
    storage: StorageOption = None,
    artifacts: ArtifactsOption = None,
    wandb: WandbOption = None,
    max_failures: MaxFailuresOption = defaults.DEFAULT_MAX_FAILURES,
    max_retries: MaxRetriesOption = defaults.DEFAULT_MAX_RETRIES,
    heartbeat: HeartbeatOption = defaults.DEFAULT_HEARTBEAT,
    as_json: JsonOption = False,
) -> None:
    """Submit workers for a study (made by `sweep create` or `sweep run`) as one Slurm job
    array; each job runs `sweep worker` against the storage, a database server."""
    from torchsweep.sweeps.launch import slurm as slurm_launch

    if show_status and cancel:
        raise typer.BadParameter("give one of --status and --cancel", param_hint="'--cancel'")
    folder = root(root_)
    if show_status:
        jobs_now = slurm_launch.status(study, folder, storage)
        _print_status(study, jobs_now, as_json)
        return
    if cancel:
        cancelled = slurm_launch.cancel(study, folder, storage)
        if as_json:
            typer.echo(json.dumps({"study": study, **cancelled}))
        elif not cancelled["jobs"]:
            typer.echo(f"{study}: none of its Slurm jobs is pending or running")
        else:
            typer.echo(f"{study}: cancelled Slurm jobs {', '.join(cancelled['jobs'])}"
                       + (f"; queued to resume: trials {_numbers(cancelled['trials'])}"
                          if cancelled["trials"] else ""))
        return
    options = defaults.RunOptions(
        root=folder, storage=storage, seed=None, wandb=value(wandb), max_failures=max_failures,
        max_retries=max_retries, heartbeat=heartbeat, artifacts=artifacts)
    resources = SlurmResources(
        jobs=jobs, gpus_per_job=gpus_per_job, partition=partition, time=time_,
        cpus_per_task=cpus_per_task, mem=mem, extra=sbatch_options(extra))
    submitted = slurm_launch.submit(study, options, resources)
    if as_json:
        typer.echo(json.dumps({"study": study, "array": submitted.array,
                               "jobs": submitted.jobs, "logs": str(submitted.logs)}))
    else:
        typer.echo(f"{study}: submitted Slurm job array {submitted.array} ({jobs} jobs); logs in "
                   f"{submitted.logs}; `sweep launch slurm {study} --status` shows them")


@command(on=launch)
def k8s(
    study: StudyName,
    jobs: int = JobsOption,
    gpus_per_job: int = GpusPerJobOption,
    image: str = typer.Option(..., "--image", help="Container image with torchsweep "
                              "installed (`sweep` on its PATH)."),
    secret: str = typer.Option(DEFAULT_SECRET, "--secret", help="Secret whose key `url` holds "
                               "the storage URL."),
    pvc: Optional[str] = typer.Option(None, "--pvc", help="PersistentVolumeClaim shared by the "
                                      "pods, mounted as --root (default: a folder per pod)."),
    artifacts: ArtifactsOption = None,
    wandb: WandbOption = None,
    max_retries: MaxRetriesOption = defaults.DEFAULT_MAX_RETRIES,
    heartbeat: HeartbeatOption = defaults.DEFAULT_HEARTBEAT,
) -> None:
    """Print a Kubernetes Indexed Job that runs `sweep worker` on the study in --jobs pods
    (for `kubectl apply -f -`)."""
    from torchsweep.sweeps.launch.k8s import manifest, to_yaml

    for name, given in (("--secret", secret), ("--pvc", pvc)):
        if given is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", given):
            raise typer.BadParameter(f"{given!r} is not a Kubernetes object name (lower-case "
                                     "letters, digits, '-' and '.')", param_hint=f"'{name}'")
    worker_options = ["--max-retries", str(max_retries), "--heartbeat", f"{heartbeat:g}"]
    if artifacts:
        worker_options += ["--artifacts", artifacts]
    if wandb is not None:
        worker_options += ["--wandb", value(wandb)]
    job = manifest(study, jobs=jobs, gpus_per_job=gpus_per_job, image=image, secret=secret,
                   volume_claim=pvc, worker_options=worker_options)
    typer.echo(to_yaml(job, study, secret), nl=False)


def _print_status(study: str, jobs: list[dict], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"study": study, "jobs": jobs}))
        return
    if not jobs:
        typer.echo(f"{study}: no Slurm jobs (submit them with `sweep launch slurm {study}`)")
        return
    for job in jobs:
        trials = ", ".join(f"#{t['number']} {t['state']}"
                           + (f" ({t['reason']})" if t["reason"] and t["state"] != "completed"
                              else "") for t in job["trials"]) or "no trials yet"
        where = f" on {job['where']}" if job["where"] else ""
        typer.echo(f"{job['job']:<12} {job['state']:<10}{where}: {trials}")


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)
