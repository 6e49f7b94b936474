"""Every private Optuna attribute the engine uses, exercised on a real study: an Optuna that moves
one fails here first, by name. No version string is compared (pyproject.toml bounds Optuna to
the releases CI has run; a new minor release that keeps these attributes passes)."""
import ast
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from torchsweep.sweeps.engine import _optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def study():
    return optuna.create_study(storage=optuna.storages.InMemoryStorage())


def test_every_private_attribute_the_engine_reads_is_there(study):
    trial = study.ask()
    frozen, = study.get_trials()
    checked = ((study, "_storage"), (study, "_stop_flag"), (study, "_thread_local"),
               (trial, "_trial_id"), (frozen, "_trial_id"))
    for owner, name in checked:
        assert hasattr(owner, name), (
            f"Optuna {optuna.__version__} moved {type(owner).__name__}.{name}: mend "
            f"sweeps/engine/_optuna.py, then widen pyproject.toml's bound")
    # What _optuna.py reads, as its source names it: a new private read is checked here too.
    tree = ast.parse(Path(_optuna.__file__).read_text())
    read = {node.args[1].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "_private"}
    assert read and read <= {name for _, name in checked}, read


def test_the_redis_journal_has_the_client_the_storage_replaces():
    from optuna.storages.journal import JournalRedisBackend

    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        backend = JournalRedisBackend("redis://127.0.0.1:1/0")   # connects only when used
    assert hasattr(backend, "_redis"), (
        f"Optuna {optuna.__version__} moved JournalRedisBackend._redis: mend "
        f"sweeps/storage/__init__.py (_redis_backend), then widen pyproject.toml's bound")


def test_a_moved_attribute_is_named_with_the_installed_optuna():
    with pytest.raises(_optuna.OptunaChanged,
                       match=rf"Optuna {optuna.__version__} has no object\._storage, .*"
                             r"install an Optuna that torchsweep's pyproject.toml admits"):
        _optuna.storage(object())


def test_a_queued_trial_is_claimed_once(study):
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
    waiting, = study.get_trials(states=(TrialState.WAITING,))
    claimed = _optuna.claim(study, waiting)
    assert isinstance(claimed, optuna.Trial) and claimed.number == waiting.number
    assert _optuna.frozen(claimed).state == TrialState.RUNNING
    assert _optuna.claim(study, waiting) is None           # a second worker gets nothing
    assert _optuna.trial_id(claimed) == _optuna.trial_id(waiting)
    assert _optuna.storage(study) is study._storage


def test_system_attrs_and_failing_another_workers_trial(study):
    trial = study.ask()
    _optuna.set_system_attr(study, trial, "sweep:heartbeat", 1.5)
    assert _optuna.frozen(trial).system_attrs["sweep:heartbeat"] == 1.5
    running, = study.get_trials(states=(TrialState.RUNNING,))
    assert _optuna.fail_if_running(study, running, {"reason": "lost"})
    failed, = study.get_trials()
    assert failed.state == TrialState.FAIL and failed.user_attrs["reason"] == "lost"
    assert not _optuna.fail_if_running(study, running, {"reason": "lost"})   # already judged


def test_the_optimize_loop_lets_callbacks_stop_the_study(study):
    with _optuna.optimize_loop(study):
        assert not _optuna.stop_requested(study)
        study.stop()                                        # refused outside an optimize loop
        assert _optuna.stop_requested(study)
    with pytest.raises(RuntimeError):
        study.stop()


def test_a_study_of_some_trials_reaches_hyperbands_bracket_studies(study):
    """The filter holds where Hyperband re-opens the study from its storage, and writes (the
    rung values successive halving records) still reach the real storage."""
    sizes = optuna.distributions.CategoricalDistribution((16, 512))
    for batch_size, value in ((16, 0.1), (512, 0.9), (16, 0.2)):   # minimized
        study.add_trial(optuna.trial.create_trial(
            params={"batch_size": batch_size}, distributions={"batch_size": sizes},
            value=value, intermediate_values={1: value},
            system_attrs={"completed_rung_0": value}))
    small = _optuna.study_of(study, lambda t: t.params.get("batch_size") == 16)
    assert [t.value for t in small.get_trials()] == [0.1, 0.2]
    assert small.get_trials(states=(TrialState.RUNNING,)) == []
    large = _optuna.study_of(study, lambda t: t.params.get("batch_size") == 512)
    assert (study.best_trial.value, large.best_trial.value) == (0.1, 0.9)  # WilcoxonPruner's

    study.enqueue_trial({"batch_size": 16})
    trial = study.ask({"batch_size": sizes})
    trial.report(0.5, 1)
    halving = optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    assert halving.prune(small, _optuna.frozen(trial))      # 0.5 is worse than both of batch 16
    assert study._storage.get_trial(trial._trial_id).system_attrs["completed_rung_0"] == 0.5
    hyperband = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9)
    hyperband.prune(small, _optuna.frozen(trial))
    for bracket in range(len(hyperband._pruners)):
        seen = hyperband._create_bracket_study(small, bracket).get_trials()
        assert {t.params["batch_size"] for t in seen} <= {16}
