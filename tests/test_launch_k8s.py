"""`sweep launch k8s`: the Indexed Job it prints is valid against the Kubernetes OpenAPI schema
(kubernetes-validate, strict: unknown fields fail too), takes the storage URL from a Secret, and
its pods' command really works a study. There is no cluster here to apply it to."""
import os
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from cli_helpers import sweep
from worker_helpers import QUIET, TINY_SPACE, trials

from torchsweep.sweeps.launch.k8s import job_name

KUBERNETES = kubernetes_validate.utils.latest_version()


def printed(*args) -> dict:
    result = sweep("launch", "k8s", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# sweep workers for study")
    return yaml.safe_load(result.stdout)


def validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


@pytest.mark.parametrize("args", [
    [],
    ["--gpus-per-job", "2", "--pvc", "sweep-runs", "--artifacts", "s3://ckpt/study"],
])
def test_the_manifest_is_a_valid_indexed_job(args):
    job = printed("My Study_1", "--jobs", "3", "--image", "registry.example/sweep:1", *args)
    validate(job)
    assert job["metadata"]["name"] == "sweep-my-study-1"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 3
    # A disrupted pod (evicted, preempted) is replaced without counting as a failure.
    assert spec["podFailurePolicy"] == {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    assert spec["backoffLimit"] == 3 * 3
    pod = spec["template"]["spec"]
    # SIGTERM reaches the worker at once (no preStop hook to delay it), and it has 90 s to
    # give its trial back and let W&B finish the run.
    assert pod["terminationGracePeriodSeconds"] == 90
    assert [c for c in pod["containers"] if "lifecycle" in c] == []
    container = pod["containers"][0]
    command = container["command"]
    assert command[:3] == ["sweep", "worker", "My Study_1"]
    # The storage URL comes from the Secret, never inline.
    assert container["env"] == [{"name": "SWEEP_STORAGE", "valueFrom": {"secretKeyRef": {
        "name": "sweep-storage", "key": "url"}}}]
    if args:
        assert container["resources"] == {"limits": {"nvidia.com/gpu": 2}}
        assert command[-2:] == ["--gpus", "0,1"]
        assert command[command.index("--artifacts") + 1] == "s3://ckpt/study"
        assert pod["volumes"] == [{"name": "runs",
                                   "persistentVolumeClaim": {"claimName": "sweep-runs"}}]
    else:
        assert "resources" not in container and "--gpus" not in command
        assert "--artifacts" not in command


def test_the_validator_catches_a_broken_manifest():
    job = printed("s", "--image", "sweep:1")
    job["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1   # no such field
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)
    job = printed("s", "--image", "sweep:1")
    job["spec"]["completions"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job)


def test_a_pods_command_works_the_study(tmp_path):
    """What a pod runs, run here: the storage URL as the Secret would give it, /runs as the root
    (moved under tmp_path), and the artifact store its trials' checkpoints go to."""
    storage, store = tmp_path / "studies.journal", tmp_path / "store"
    made = sweep("create", "podstudy", *TINY_SPACE, "--trials", "2", "--storage", storage,
                 "--root", tmp_path)
    assert made.exit_code == 0, made.stderr
    command = printed("podstudy", "--image", "sweep:1", "--artifacts", store, "--storage-grace",
                      "45", *QUIET)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:5] == ["sweep", "worker", "podstudy", "--root", "/runs"]
    assert command[command.index("--storage-grace") + 1] == "45"   # a database restart waited
    command[4] = str(tmp_path / "runs")
    ran = subprocess.run([sys.executable, "-c", "from torchsweep.cli.app import app; app()",
                          *command[1:]], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SWEEP_STORAGE": str(storage)})
    assert ran.returncode == 0, ran.stderr
    assert sorted(t.state.name for t in trials("podstudy", tmp_path, str(storage))) == \
        ["COMPLETE", "COMPLETE"]
    assert len(list(store.iterdir())) == 2          # one checkpoint kept for each trial


def test_job_names_are_dns_labels():
    assert job_name("batchsize_study") == "sweep-batchsize-study"
    assert job_name("x" * 80) == "sweep-" + "x" * 46
    assert job_name("__") == "sweep"


@pytest.mark.parametrize("args, message", [
    ([], "Missing option '--image'"),
    (["--image", "s:1", "--secret", "Bad_Name"], "'Bad_Name' is not a Kubernetes object name"),
    (["--image", "s:1", "--pvc", "-x"], "'-x' is not a Kubernetes object name"),
    (["--image", "s:1", "--jobs", "0"], "Invalid value for '--jobs'"),
    (["--image", "s:1", "--gpus-per-job", "-1"], "Invalid value for '--gpus-per-job'"),
])
def test_bad_k8s_options_are_usage_errors(args, message):
    result = sweep("launch", "k8s", "s", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())   # unwrap Rich's box
    assert result.stdout == ""
