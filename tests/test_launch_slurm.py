"""`sweep launch slurm`: workers as a real Slurm job array (.ci/slurm starts a one-node Slurm),
sharing a study on the machine's PostgreSQL; requeued jobs resuming their trials; `sweep launch
slurm status` and `cancel`; and the option checks that need no Slurm."""
import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta

import pytest
from cli_helpers import one_line_error, sweep
from needs import needs
from optuna.trial import TrialState
from worker_helpers import SLOW_SPACE, epochs_saved, in_state, server_study, trials, wait_for

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.workers import WorkerSlot

# Where .ci/slurm writes its configuration (SWEEP_SLURM_DIR there).
SLURM_CONF = os.environ.get("SLURM_CONF", "/var/tmp/sweep-slurm/slurm.conf")
TINY = ("--param", "lr=log:0.01..0.2", "--set", "epochs=2", "--set", "model=mlp", "--set",
        "width=8", "--set", "batch_size=512", "--sampler", "random", "--pruner", "none")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def slurm_is_up() -> bool:
    if not shutil.which("sinfo") or not os.path.isfile(SLURM_CONF):
        return False
    ran = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True,
                         timeout=30, env={**os.environ, "SLURM_CONF": SLURM_CONF})
    # A node finishing a cancelled job shows `comp` (completing) for up to KillWait: it is up.
    return ran.returncode == 0 and any(state.strip("*~#") in ("idle", "mix", "alloc", "comp")
                                       for state in ran.stdout.split())


@pytest.fixture
def slurm(monkeypatch):
    needs(slurm_is_up(), f"a running Slurm with {SLURM_CONF} (.ci/slurm starts one)")
    monkeypatch.setenv("SLURM_CONF", SLURM_CONF)


@pytest.fixture
def study(tmp_path):
    with server_study() as (url, name):
        yield url, name, tmp_path


def create(url: str, name: str, root, *args) -> None:
    made = sweep("create", name, *args, "--storage", url, "--root", root)
    assert made.exit_code == 0, made.stderr


def launch(url: str, name: str, root, *args) -> dict:
    result = sweep("launch", "slurm", "submit", name, "--storage", url, "--root", root,
                   "--heartbeat", "2", *args, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def status(url: str, name: str, root) -> list[dict]:
    result = sweep("launch", "slurm", "status", name, "--storage", url, "--root", root, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["jobs"]


def wait_until_ended(url: str, name: str, root, timeout: float) -> list[dict]:
    def ended():
        time.sleep(0.5)   # each look runs squeue and reads the study: not in a tight loop
        jobs = status(url, name, root)
        return jobs if all(job["state"] in ("COMPLETED", "ENDED") for job in jobs) else None
    return wait_for(ended, timeout=timeout, what="the Slurm jobs to end")


def log_text(root, name: str) -> str:
    return "\n".join(path.read_text() for path in (root / name / "slurm").rglob("*_log.*"))


def wait_for_first_epoch(root, name: str, job: str) -> None:
    """Until trial 0 saved an epoch; on a timeout, the failure shows the job's state and log."""
    try:
        wait_for(lambda: epochs_saved(root / name / "trials" / "00000" / "last.pt") >= 1,
                 timeout=180, what="a first epoch in the Slurm job")
    except pytest.fail.Exception:
        queue = subprocess.run(["squeue", "-a", "-j", job, "-o", "%i %T %r %M"],
                               capture_output=True, text=True, timeout=30)
        pytest.fail(f"no first epoch in Slurm job {job} after 180 s: {queue.stdout}"
                    f"{queue.stderr}\n{log_text(root, name)}")


# --- real Slurm ---------------------------------------------------------------------------------

def test_two_jobs_run_the_study_with_exactly_its_trial_count(slurm, study):
    url, name, root = study
    create(url, name, root, *TINY, "--trials", "4")
    submitted = launch(url, name, root, "--jobs", "2", "--time", "10")
    assert len(submitted["jobs"]) == 2 and submitted["array"].isdigit()

    jobs = wait_until_ended(url, name, root, timeout=180)
    found = trials(name, root, url)
    assert len(found) == 4 and {t.number for t in found} == {0, 1, 2, 3}
    assert all(t.state in FINISHED for t in found), log_text(root, name)
    # Each trial names the array task that ran it, and `status` lists them under it.
    assert {attrs.job(t) for t in found} <= set(submitted["jobs"])
    listed = sorted(t["number"] for job in jobs for t in job["trials"])
    assert listed == [0, 1, 2, 3]
    assert {job["job"] for job in jobs} == set(submitted["jobs"])
    shown = sweep("launch", "slurm", "status", name, "--storage", url, "--root", root)
    assert sorted(line.split()[0] for line in shown.stdout.splitlines()) == \
        sorted(submitted["jobs"])
    assert shown.stdout.count(" completed") == 4, shown.stdout
    # Each job's log has a line per trial its worker finished, as it finished it.
    logged = re.findall(r"^\[\d+ of \d+\] trial (\d+) (?:completed|pruned)", log_text(root, name),
                        re.M)
    assert sorted(map(int, logged)) == [0, 1, 2, 3], log_text(root, name)
    # The storage URL reached the jobs through their environment, not submitit's pickles.
    assert not any(url.encode() in path.read_bytes()
                   for path in (root / name / "slurm").rglob("*.pkl"))


@pytest.mark.parametrize("stop", ["scontrol requeue", "time limit"])
def test_a_requeued_job_resumes_its_trial_from_its_checkpoint(slurm, study, stop):
    url, name, root = study
    create(url, name, root, *SLOW_SPACE, "--set", "epochs=4", "--trials", "1")
    job = launch(url, name, root, "--jobs", "1", "--time", "10")["jobs"][0]
    wait_for_first_epoch(root, name, job)
    if stop == "scontrol requeue":   # as Slurm's preemption in REQUEUE mode does
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    else:   # the warning submitit has Slurm send before the time limit
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)

    wait_until_ended(url, name, root, timeout=240)
    found = sorted(trials(name, root, url), key=lambda t: t.number)
    assert [t.state for t in found] == [TrialState.FAIL, TrialState.COMPLETE], \
        log_text(root, name)
    stopped, retry = found
    assert attrs.reason(stopped) == "preempted"
    assert attrs.retry_of(retry) == 0
    assert attrs.resumed_at(retry) >= 1              # from its checkpoint, not from epoch 0
    assert attrs.summary(retry)["epochs_run"] == 4
    assert attrs.job(stopped) == attrs.job(retry) == job   # the same job, run again
    if stop == "time limit":   # submitit's checkpoint-and-requeue, not Slurm's
        assert "Requeued job" in log_text(root, name)


def test_cancel_stops_the_jobs_and_leaves_their_trials_resumable(slurm, study):
    url, name, root = study
    create(url, name, root, *SLOW_SPACE, "--set", "epochs=20", "--trials", "1")
    job = launch(url, name, root, "--jobs", "1", "--time", "10")["jobs"][0]
    wait_for_first_epoch(root, name, job)

    result = sweep("launch", "slurm", "cancel", name, "--storage", url, "--root", root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{name}: cancelled Slurm jobs {job}; queued to resume: trials #0\n"
    found = trials(name, root, url)
    assert attrs.reason(found[0]) == "preempted" and found[0].state == TrialState.FAIL
    waiting = in_state(found, TrialState.WAITING)
    assert [attrs.retry_of(t) for t in waiting] == [0]
    shown = status(url, name, root)
    assert [(j["job"], j["state"], j["trials"]) for j in shown] == [
        (job, "CANCELLED", [{"number": 0, "state": "failed", "reason": "preempted"}])]
    again = sweep("launch", "slurm", "cancel", name, "--storage", url, "--root", root)
    assert again.stdout == f"{name}: none of its Slurm jobs is pending or running\n"


def scontrol_job(job: str) -> dict[str, str]:
    """What Slurm holds of a job, field by field (`scontrol show job --oneliner`)."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner", job], capture_output=True,
                           text=True, check=True, timeout=30)
    return dict(field.split("=", 1) for field in shown.stdout.split() if "=" in field)


def test_memory_cpus_and_sbatch_options_reach_the_job(slurm, study):
    """Held pending (begin in an hour), the array is read back from Slurm itself."""
    url, name, root = study
    create(url, name, root, *TINY, "--trials", "1")
    submitted = launch(url, name, root, "--jobs", "2", "--mem", "1M", "--cpus-per-task", "2",
                       "--slurm", "begin=now+1hour", "--slurm", "comment=sweep-options")
    try:
        job = scontrol_job(submitted["array"])
    finally:
        subprocess.run(["scancel", submitted["array"]], timeout=30)
    assert (job["JobState"], job["ArrayTaskId"]) == ("PENDING", "0-1%2"), job
    # --mem and --cpus-per-task
    assert (job["MinMemoryNode"], job["CPUs/Task"]) == ("1M", "2"), job
    assert {"cpu=2", "mem=1M"} <= set(job["TRES"].split(",")), job
    # --slurm KEY=VALUE, any sbatch option: a comment, and a start an hour on
    assert job.get("Comment") == "sweep-options", job
    submitted_at, eligible = (datetime.fromisoformat(job[key])
                              for key in ("SubmitTime", "EligibleTime"))
    assert eligible - submitted_at >= timedelta(minutes=59), job


@pytest.mark.parametrize("option, asked, refusal", [
    (["--partition", "nosuch"], "--partition=nosuch", "invalid partition specified: nosuch"),
    # This Slurm has no GPUs (no gres): sbatch refuses the request at once, so no job holds it
    # to read back; its refusal and the batch script submitit gave it say what was asked.
    (["--gpus-per-job", "2"], "--gpus-per-node=2",
     "Invalid generic resource (gres) specification")], ids=["partition", "gpus"])
def test_what_sbatch_refuses_is_exit_code_11_with_its_words(slurm, study, option, asked,
                                                             refusal):
    url, name, root = study
    create(url, name, root, *TINY, "--trials", "1")
    result = sweep("launch", "slurm", "submit", name, *option, "--storage", url, "--root", root)
    assert result.exit_code == 11
    assert result.stderr == f"error: sbatch refused the jobs: sbatch: error: {refusal}\n"
    [script] = (root / name / "slurm").glob(".submission_file_*.sh")
    assert f"#SBATCH {asked}" in script.read_text().splitlines()


# --- without Slurm ------------------------------------------------------------------------------

def test_submit_status_and_cancel_are_subcommands_not_flags(tmp_path):
    shown = sweep("launch", "slurm", "--help")
    assert shown.exit_code == 0
    assert re.findall(r"^│ (\w+) ", shown.stdout, re.M) == ["submit", "status", "cancel"]
    old = sweep("launch", "slurm", "s", "--status", "--storage", "postgresql://h/db",
                "--root", tmp_path)
    one_line_error(old, 2, "No such command 's'", "--help`")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage", [None, "sqlite:///studies.db"])
def test_a_file_storage_is_refused_before_anything_is_written(tmp_path, monkeypatch, storage):
    monkeypatch.chdir(tmp_path)
    result = sweep("launch", "slurm", "submit", "s", "--root", tmp_path / "runs",
                   *(["--storage", storage] if storage else []))
    assert result.exit_code == 2
    shown = storage or str(tmp_path / "runs" / "optuna.journal")
    assert result.stderr == (f"error: --storage: {shown} is a file, and Slurm's jobs run on "
                             "other nodes: a journal or SQLite file's locks do not hold on a "
                             "shared filesystem such as NFS; give a server every node reaches, "
                             "postgresql://, mysql:// or redis://\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--time", "soon"], "'soon' is not a Slurm time; expected e.g. 90, 4:00:00 or 1-12:00"),
    (["--time", "0"], "'0' is no time at all"),
    (["--mem", "lots"], "'lots' is not a size as sbatch takes it; expected e.g. 16G or 4000M"),
    (["--slurm", "account"], "'account' is not KEY=VALUE with KEY an sbatch option"),
    (["--slurm", "array=0-9"], "array is set by `sweep launch slurm` itself"),
    (["--slurm", "time=10"], "time has an option of its own: use --time"),
    (["--jobs", "0"], "Invalid value for '--jobs'"),
])
def test_bad_slurm_options_are_usage_errors(tmp_path, args, message):
    result = sweep("launch", "slurm", "submit", "s", *args, "--storage", "postgresql://h/db",
                   "--root", tmp_path)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split())   # unwrap Rich's box
    assert list(tmp_path.iterdir()) == []


def test_a_study_that_is_not_in_the_storage(study):
    url, name, root = study
    result = sweep("launch", "slurm", "submit", name, "--storage", url, "--root", root)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: no study named '{name}' in {url}")


def test_a_machine_without_slurm_is_told_so(study, monkeypatch):
    url, name, root = study
    create(url, name, root, *TINY, "--trials", "1")
    monkeypatch.setenv("PATH", str(root))   # no sbatch there
    result = sweep("launch", "slurm", "submit", name, "--storage", url, "--root", root)
    assert result.exit_code == 11
    assert result.stderr == ("error: sbatch not found: Slurm's commands are not installed on "
                             "this machine; run `sweep launch slurm` on a login node of the "
                             "cluster\n")
    assert not (root / name / "slurm").exists()


def test_gpu_indices_count_the_gpus_a_job_was_given(monkeypatch):
    # Inside a Slurm job given GPUs 2 and 3, the job's GPU 1 is the machine's GPU 3.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert WorkerSlot(0, gpu="1").environment() == {"CUDA_VISIBLE_DEVICES": "3"}
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert WorkerSlot(0, gpu="1").environment() == {"CUDA_VISIBLE_DEVICES": "1"}
