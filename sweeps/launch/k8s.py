"""`sweep launch k8s`: a Kubernetes Indexed Job whose pods each run `sweep worker` on the study.

Printed, never applied: `kubectl apply -f` takes it. Every pod runs the same worker loop as
`sweep worker` on any machine: it claims queued trials from the storage until none is queued or
running, then exits 0, and the Job completes when every index has.

- The storage URL comes from a Secret (`--secret`, key `url`) as SWEEP_STORAGE: never inline,
  so the manifest can be kept in a repository.
- GPUs: `nvidia.com/gpu` limits; a pod sees its G GPUs as 0..G-1 and runs one worker on each.
- Stopping: Kubernetes sends SIGTERM to the worker (PID 1), which fails its running trial as
  `preempted` and queues it to resume from its checkpoint, within seconds; the grace period
  also leaves time for W&B to finish the trial's run. No preStop hook: one would only delay
  the SIGTERM that the worker acts on.
- A pod evicted or preempted (condition DisruptionTarget) is replaced without counting
  against `backoffLimit`; its trial is resumed by whichever pod claims it.
- `--root` is /runs in the pod: a PersistentVolumeClaim (`--pvc`) shared by the pods lets a
  retry resume from its checkpoint on any pod; without one, give `--artifacts`.
"""
from __future__ import annotations

import re
from typing import Any

ROOT = "/runs"                   # --root inside the pod
SECRET_KEY = "url"               # the key of the storage URL in the Secret
GRACE_SECONDS = 90               # SIGTERM to SIGKILL: giving the trial back, W&B's finish (60 s)
BACKOFF_PER_POD = 3              # failures (not disruptions) tolerated per pod of the Job
NAME_LENGTH = 52                 # a Job's name leaves room for the pods' suffixes in 63


def job_name(study: str) -> str:
    """`sweep-<study>` as a DNS label: lower case, letters, digits and '-'."""
    label = re.sub(r"[^a-z0-9-]+", "-", study.lower()).strip("-")
    return f"sweep-{label}"[:NAME_LENGTH].rstrip("-")


def manifest(study: str, *, jobs: int, gpus_per_job: int, image: str, secret: str,
             volume_claim: str | None, worker_options: list[str]) -> dict[str, Any]:
    """The Job, as a dict ready for YAML. `worker_options` are more `sweep worker` options."""
    command = ["sweep", "worker", study, "--root", ROOT, *worker_options]
    if gpus_per_job:
        command += ["--gpus", ",".join(str(index) for index in range(gpus_per_job))]
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "command": command,
        "env": [{"name": "SWEEP_STORAGE",
                 "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}}}],
        "volumeMounts": [{"name": "runs", "mountPath": ROOT}],
    }
    if gpus_per_job:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus_per_job}}
    runs = ({"persistentVolumeClaim": {"claimName": volume_claim}} if volume_claim
            else {"emptyDir": {}})
    name = job_name(study)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "sweep",
                                              "app.kubernetes.io/instance": name},
                     "annotations": {"torchsweep/study": study}},
        "spec": {
            "completionMode": "Indexed",
            "completions": jobs,
            "parallelism": jobs,
            "backoffLimit": BACKOFF_PER_POD * jobs,
            "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "sweep",
                                        "app.kubernetes.io/instance": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "containers": [container],
                    "volumes": [{"name": "runs", **runs}],
                },
            },
        },
    }


def to_yaml(job: dict[str, Any], study: str, secret: str) -> str:
    """The manifest, after comments that say how to apply it."""
    import yaml

    head = (f"# sweep workers for study '{study}': `kubectl apply -f` this file, after\n"
            f"#   kubectl create secret generic {secret} "
            f"--from-literal={SECRET_KEY}=postgresql://USER:PASSWORD@HOST/DB\n"
            f"# `kubectl get pods -l app.kubernetes.io/instance={job['metadata']['name']}` "
            "shows the workers; `sweep show` the trials.\n")
    return head + yaml.safe_dump(job, sort_keys=False)
