"""`sweep launch`: a study's workers on a cluster's scheduler. `sweep launch slurm submit`,
`status` and `cancel` for a Slurm job array; `sweep launch k8s` for a Kubernetes Job."""
from __future__ import annotations

import re
from typing import List, Optional

import typer

from torchsweep.cli import output
from torchsweep.cli.parameters import (
    ArtifactsOption,
    HeartbeatOption,
    JsonOption,
    MaxFailuresOption,
    MaxRetriesOption,
    RootOption,
    StorageGraceOption,
    StorageOption,
    StudyName,
    WandbOption,
    root,
    value,
    word,
)
from torchsweep.sweeps.engine import run_options as defaults
from torchsweep.sweeps.launch.slurm_resources import (
    DEFAULT_TIME,
    SlurmResources,
    minutes,
    sbatch_options,
)

# Named, so `sweep` composes it as the group `sweep launch`.
app = typer.Typer(name="launch", no_args_is_help=True, help="Start a study's workers on a "
                  "cluster: Slurm job arrays, or a Kubernetes Job to apply.")
slurm = typer.Typer(no_args_is_help=True, help="A study's workers as one Slurm job array: "
                    "submit them, see their status, cancel them.")
app.add_typer(slurm, name="slurm")

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


@slurm.command()
def submit(
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
    root_: RootOption = None,
    storage: StorageOption = None,
    artifacts: ArtifactsOption = None,
    wandb: WandbOption = None,
    max_failures: MaxFailuresOption = defaults.DEFAULT_MAX_FAILURES,
    max_retries: MaxRetriesOption = defaults.DEFAULT_MAX_RETRIES,
    heartbeat: HeartbeatOption = defaults.DEFAULT_HEARTBEAT,
    storage_grace: StorageGraceOption = defaults.DEFAULT_GRACE,
    as_json: JsonOption = False,
) -> None:
    """Submit workers for a study (made by `sweep create` or `sweep run`) as one Slurm job
    array; each job runs `sweep worker` against the storage, a database server."""
    from torchsweep.cli.progress import TrialLines
    from torchsweep.sweeps.launch import slurm as slurm_launch

    options = defaults.RunOptions(
        root=root(root_), storage=storage, seed=None, wandb=value(wandb),
        max_failures=max_failures, max_retries=max_retries, heartbeat=heartbeat,
        artifacts=artifacts, storage_grace=storage_grace)
    resources = SlurmResources(
        jobs=jobs, gpus_per_job=gpus_per_job, partition=partition, time=time_,
        cpus_per_task=cpus_per_task, mem=mem, extra=sbatch_options(extra))
    # A job's output is a log file: a line per finished trial, as `sweep worker` prints there.
    submitted = slurm_launch.submit(study, options, resources, TrialLines())
    if as_json:
        output.json_object({"study": study, "array": submitted.array, "jobs": submitted.jobs,
                            "logs": str(submitted.logs)})
    else:
        output.slurm_submitted(study, submitted, jobs)


@slurm.command()
def status(
    study: StudyName,
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the study's Slurm jobs: each one's state, node, and the trials it ran."""
    from torchsweep.sweeps.launch import slurm as slurm_launch

    jobs = slurm_launch.status(study, root(root_), storage)
    if as_json:
        output.json_object({"study": study, "jobs": [job.to_dict() for job in jobs]})
    else:
        output.slurm_jobs(study, jobs)


@slurm.command()
def cancel(
    study: StudyName,
    root_: RootOption = None,
    storage: StorageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel the study's Slurm jobs, and wait until their running trials are queued to
    resume."""
    from torchsweep.sweeps.launch import slurm as slurm_launch

    cancelled = slurm_launch.cancel(study, root(root_), storage)
    if as_json:
        output.json_object({"study": study, **cancelled.to_dict()})
    else:
        output.slurm_cancelled(study, cancelled)


@app.command()
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
    storage_grace: StorageGraceOption = defaults.DEFAULT_GRACE,
) -> None:
    """Print a Kubernetes Indexed Job that runs `sweep worker` on the study in --jobs pods
    (for `kubectl apply -f -`)."""
    from torchsweep.sweeps.launch.k8s import manifest, to_yaml

    for name, given in (("--secret", secret), ("--pvc", pvc)):
        if given is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", given):
            raise typer.BadParameter(f"{given!r} is not a Kubernetes object name (lower-case "
                                     "letters, digits, '-' and '.')", param_hint=f"'{name}'")
    worker_options = ["--max-retries", str(max_retries), "--heartbeat", f"{heartbeat:g}",
                      "--storage-grace", f"{storage_grace:g}"]
    if artifacts:
        worker_options += ["--artifacts", artifacts]
    if wandb is not None:
        worker_options += ["--wandb", word(wandb)]
    job = manifest(study, jobs=jobs, gpus_per_job=gpus_per_job, image=image, secret=secret,
                   volume_claim=pvc, worker_options=worker_options)
    output.manifest(to_yaml(job, study, secret))

