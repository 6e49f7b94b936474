"""`sweep run`'s options and defaults, each seen doing what it says through the CLI, with real
training and storage: --timeout, SWEEP_ROOT, the defaults of --keep-top-k and --max-failures,
and the --max-retries cap."""
import json

import optuna
from cli_helpers import sweep, sweep_json
from failing_models import BUILD_SECONDS
from optuna.trial import TrialState
from worker_helpers import QUIET, TINY_SPACE, in_state, trials, wait_for

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import trial_loop, trial_queue
from torchsweep.sweeps.engine.trial_loop import LoopSettings
from torchsweep.sweeps.storage import open_storage, storage_url


def test_timeout_stops_starting_trials_and_leaves_the_rest_queued(tmp_path):
    """Each trial outlasts the timeout, so the deadline has passed when the first ends."""
    report = sweep_json("run", "timed", *TINY_SPACE, "--set", "model=failing_models:slow_to_build",
                        "--trials", "4", "--timeout", str(BUILD_SECONDS), *QUIET,
                        "--root", tmp_path)
    assert report["ran"] == 1
    found = trials("timed", tmp_path)
    assert len(in_state(found, TrialState.COMPLETE)) == 1
    assert len(in_state(found, TrialState.WAITING)) == 3      # for the next run


def test_sweep_root_is_where_studies_go_without_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # where ./runs would be
    elsewhere = tmp_path / "elsewhere"
    env = {"SWEEP_ROOT": str(elsewhere)}
    ran = sweep("run", "rooted", *TINY_SPACE, "--trials", "1", *QUIET, "--json", env=env)
    assert ran.exit_code == 0, ran.stderr
    assert (elsewhere / "optuna.journal").is_file()
    assert (elsewhere / "rooted" / "study.yaml").is_file()
    assert not (tmp_path / "runs").exists()
    shown = sweep("show", "rooted", "--json", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert [t["state"] for t in json.loads(shown.stdout)["trials"]] == ["completed"]


def test_keep_top_k_keeps_three_best_checkpoints_by_default(tmp_path):
    report = sweep_json("run", "kept", *TINY_SPACE, "--trials", "5", *QUIET, "--root", tmp_path)
    assert report["ran"] == 5
    kept = sorted(map(int, report["kept_checkpoints"]))
    on_disk = sorted(int(p.parent.name) for p in (tmp_path / "kept").rglob("best.pt"))
    assert len(kept) == 3 and on_disk == kept
    values = {t["number"]: t["value"] for t in report["trials"]}
    assert min(values[n] for n in kept) >= max(v for n, v in values.items() if n not in kept)


def test_a_worker_stops_after_three_failures_in_a_row_by_default(tmp_path):
    result = sweep("run", "failing", *TINY_SPACE, "--set", "model=failing_models:broken",
                   "--trials", "5", *QUIET, "--root", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ran"] == 3
    found = trials("failing", tmp_path)
    assert len(in_state(found, TrialState.FAIL)) == 3
    assert len(in_state(found, TrialState.WAITING)) == 2


def _dies_once_claimed(study: optuna.Study) -> optuna.Trial:
    """The next queued trial, claimed by a worker that dies at once (no heartbeat)."""
    claimed = trial_queue.claim(study)
    assert claimed is not None
    return claimed


def test_a_trial_lost_more_often_than_max_retries_is_not_queued_again(tmp_path):
    """--max-retries 1: a lost trial is queued once more; when that retry is lost too, it is
    not."""
    sweep_json("create", "lost", *TINY_SPACE, "--trials", "1", "--root", tmp_path)
    study = optuna.load_study(study_name="lost",
                              storage=open_storage(storage_url(tmp_path, None), create=False))
    first = _dies_once_claimed(study)
    # A worker of the same settings judges it lost, 6 heartbeats after it started, and
    # queues its retry: retry 1 of at most 1.
    wait_for(lambda: trial_loop.reconcile(study, LoopSettings(heartbeat=0.1, max_retries=1)),
             timeout=30, what="trial 0 to be judged lost")
    retry = _dies_once_claimed(study)
    assert attrs.retry_of(study.get_trials()[retry.number]) == first.number

    # The next worker judges the retry lost too, and has nothing left to run.
    report = sweep_json("worker", "lost", "--max-retries", "1", "--heartbeat", "0.1", *QUIET,
                        "--root", tmp_path)
    assert report["ran"] == 0
    found = {t.number: t for t in trials("lost", tmp_path)}
    assert sorted(found) == [first.number, retry.number]
    assert [(t.state, attrs.reason(t)) for t in found.values()] == [(TrialState.FAIL, "lost")] * 2
    assert attrs.retry_due(found[first.number]) and not attrs.retry_due(found[retry.number])
