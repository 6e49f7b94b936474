"""Parallel workers: local processes on the embedded journal, workers joining over PostgreSQL,
MySQL/MariaDB and Redis, GPU assignment, and the queue that keeps the trial count exact."""
import json

import optuna
import pytest
import torch
from cli_helpers import one_line_error, sweep, sweep_json
from failing_models import DIES_MARKER
from needs import MARIADB, REDIS
from optuna.trial import TrialState
from worker_helpers import (
    QUIET,
    TINY_SPACE,
    finish,
    in_state,
    server_study,
    start,
    trials,
)

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.workers import WorkerSlot, parse_gpus, plan_slots

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def assert_exactly(found, count: int) -> None:
    numbers = [t.number for t in found]
    assert len(numbers) == len(set(numbers)) == count
    assert all(t.state in FINISHED for t in found), [(t.number, t.state) for t in found]


# --- assignment of cores and GPUs, on CPU -----------------------------------------------------

def test_cpu_workers_share_the_cores():
    assert plan_slots(1, (), 1, cpus=8) == [WorkerSlot(0, threads=0)]   # torch's own default
    assert plan_slots(4, (), 1, cpus=2) == [WorkerSlot(i, threads=1) for i in range(4)]
    assert plan_slots(2, (), 1, cpus=16) == [WorkerSlot(0, 8), WorkerSlot(1, 8)]


def test_one_worker_per_gpu_each_seeing_only_its_own():
    slots = plan_slots(1, ("0", "1"), 2, cpus=16)
    assert [s.gpu for s in slots] == ["0", "0", "1", "1"]
    assert [s.environment() for s in slots] == [{"CUDA_VISIBLE_DEVICES": g} for g in "0011"]
    assert all(s.threads == 4 for s in slots)
    assert slots[2].overrides(fixed=()) == {"threads": 4, "device": "cuda"}
    # What the study or the user fixed is theirs.
    assert slots[2].overrides(fixed=("threads", "device")) == {}
    assert WorkerSlot(0).environment() == {} and WorkerSlot(0).overrides(()) == {}


def test_gpu_lists():
    assert parse_gpus("0,1, 3") == ("0", "1", "3")
    assert parse_gpus("GPU-8f2c1e4a-1b2c") == ("GPU-8f2c1e4a-1b2c",)
    for bad, message in (("0,x", "not a GPU"), ("0,0", "twice"), ("", "not a GPU")):
        with pytest.raises(ValueError, match=message):
            parse_gpus(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has GPUs")
def test_gpus_this_machine_lacks_are_refused_before_anything_is_written(tmp_path):
    result = sweep("run", "x", *TINY_SPACE, "--gpus", "0,1", "--root", tmp_path)
    one_line_error(result, 2, "error: --gpus 0,1: this machine has 0 CUDA devices")
    assert not (tmp_path / "optuna.journal").exists()


# --- the queue ---------------------------------------------------------------------------------

def draws(seed: int, count: int, name: str, distribution) -> list:
    """The first `count` values Optuna's RandomSampler(seed) proposes for one parameter."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask({name: distribution}).params[name] for _ in range(count)]


def test_four_local_workers_run_exactly_the_trials_asked_for(tmp_path, capfd):
    """Spawned processes on the embedded journal: no 'database is locked', 20 unique trials."""
    result = sweep("run", "four", *TINY_SPACE, *QUIET, "--trials", "20", "--workers", "4",
                   "--seed", "7", "--root", tmp_path, "--json")
    workers_said = capfd.readouterr().err           # the spawned workers write to the fds
    assert result.exit_code == 0, result.stderr + workers_said
    assert "locked" not in result.stderr + workers_said
    report = json.loads(result.stdout)
    assert report["ran"] == 20
    found = trials("four", tmp_path)
    assert_exactly(found, 20)
    # Worker k samples with seed + k: the trials' values are the first draws of the four
    # seeds 7, 8, 9, 10, however the 20 trials fell to the workers.
    lrs = {t.params["lr"] for t in found}
    runs = [draws(7 + k, 20, "lr", found[0].distributions["lr"]) for k in range(4)]
    ran_by = [next((n for n, lr in enumerate(run) if lr not in lrs), 20) for run in runs]
    assert sum(ran_by) == 20 and set().union(*(run[:n] for run, n in zip(runs, ran_by))) == lrs


def test_two_local_workers_run_each_point_of_a_grid_once(tmp_path):
    """Each worker samples with its own seed; the grid's order must not follow it."""
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
    report = sweep_json("run", "grid2", "--param", "lr=" + ",".join(map(str, lrs)),
                        "--set", "epochs=1", "--set", "model=mlp", "--set", "width=8",
                        "--sampler", "grid", "--pruner", "none", "--workers", "2", *QUIET,
                        "--root", tmp_path)
    assert report["ran"] == 8
    assert sorted(t.params["lr"] for t in trials("grid2", tmp_path)) == lrs


def test_a_local_worker_that_dies_makes_the_run_exit_1_once_the_other_has_retried_it(
        tmp_path, monkeypatch):
    monkeypatch.setenv(DIES_MARKER, str(tmp_path / "died"))      # the workers inherit it
    result = sweep("run", "dying", *TINY_SPACE, "--set", "model=failing_models:dies_once",
                   "--trials", "4", "--workers", "2", "--heartbeat", "0.3", *QUIET,
                   "--root", tmp_path)
    one_line_error(result, 1, "was killed by SIGKILL; its trial is retried by the other workers")
    found = trials("dying", tmp_path)
    [lost] = [t for t in found if attrs.reason(t) == "lost"]
    # The worker left standing judged the dead one's trial lost and ran its retry.
    [retry] = [t for t in found if attrs.retry_of(t) == lost.number]
    assert retry.state == TrialState.COMPLETE
    assert_exactly([t for t in found if t is not lost], 4)


def test_run_cap_holds_across_runs_and_queues(tmp_path):
    study = tmp_path / "capped.yaml"
    study.write_text("method: random\nrun_cap: 5\nmetric: {name: val_acc, goal: maximize}\n"
                     "parameters:\n  lr: {min: 0.01, max: 0.1}\n  epochs: {value: 1}\n"
                     "  model: {value: mlp}\n  width: {value: 8}\n")
    assert sweep_json("create", study, "--trials", "3", "--root", tmp_path)["queued"] == 3
    assert sweep_json("create", study, "--trials", "9", "--root", tmp_path)["queued"] == 2
    report = sweep_json("run", study, "--trials", "9", *QUIET, "--root", tmp_path)
    assert report["ran"] == 5
    assert_exactly(trials("capped", tmp_path), 5)


def test_workers_on_other_machines_join_over_postgresql(tmp_path):
    """`sweep create` on one machine, four `sweep worker`s on others (separate roots)."""
    with server_study() as (url, name):
        made = sweep_json("create", name, *TINY_SPACE, "--trials", "20", "--storage", url,
                          "--root", tmp_path / "creator")
        assert made["queued"] == 20 and "postgresql" in made["storage"]
        workers = [start("worker", name, "--storage", url, "--root", tmp_path / f"machine{i}",
                         *QUIET, "--json") for i in range(4)]
        results = [finish(worker) for worker in workers]
        assert [code for code, _, _ in results] == [0] * 4, [err for _, _, err in results]
        ran = [json.loads(out)["ran"] for _, out, _ in results]
        assert sum(ran) == 20
        assert_exactly(trials(name, tmp_path, url), 20)
        # Nothing was left to run: a late worker leaves at once, having run nothing.
        late = sweep_json("worker", name, "--storage", url, "--root", tmp_path / "late", *QUIET)
        assert late["ran"] == 0 and len(late["trials"]) == 20


@pytest.mark.parametrize("url", [MARIADB, REDIS], ids=["MariaDB", "Redis"])
def test_a_worker_joins_over_mysql_and_redis(tmp_path, url):
    with server_study(url) as (url, name):
        sweep_json("create", name, *TINY_SPACE, "--trials", "2", "--storage", url,
                   "--root", tmp_path)
        joined = sweep("worker", name, "--storage", url, "--root", tmp_path, *QUIET, "--json")
        assert joined.exit_code == 0, joined.stderr
        assert json.loads(joined.stdout)["ran"] == 2
        assert joined.stderr == ""        # not even a library's warning
        assert_exactly(trials(name, tmp_path, url), 2)


def test_a_worker_needs_a_study_that_exists(tmp_path):
    sweep_json("create", "present", *TINY_SPACE, "--trials", "1", "--root", tmp_path)
    one_line_error(sweep("worker", "absent", "--root", tmp_path), 3, "no study named 'absent'")
    assert in_state(trials("present", tmp_path), TrialState.WAITING)
