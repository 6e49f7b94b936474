"""Every private Optuna attribute the engine uses, exercised on a real study and pinned to the
Optuna release `_optuna` was written for: a new Optuna fails here first, by name."""
import optuna
import pytest
from optuna.trial import TrialState

from torchsweep.sweeps.engine import _optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_written_for_the_installed_optuna():
    installed = ".".join(optuna.__version__.split(".")[:2])
    assert installed == _optuna.WRITTEN_FOR, (
        f"sweeps/engine/_optuna.py was written for Optuna {_optuna.WRITTEN_FOR}, this is "
        f"{optuna.__version__}: check each private attribute it uses, then update WRITTEN_FOR")


@pytest.fixture
def study():
    return optuna.create_study(storage=optuna.storages.InMemoryStorage())


def test_a_queued_trial_is_claimed_once(study):
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
    waiting, = study.get_trials(states=(TrialState.WAITING,))
    claimed = _optuna.claim(study, waiting)
    assert isinstance(claimed, optuna.Trial) and claimed.number == waiting.number
    assert _optuna.is_running(study, claimed)
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
