"""Checkpoint retention on a real Optuna study: top-k best.pt kept, resume state only while needed."""
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from torchsweep.sweeps.engine.retention import CHECKPOINTS_ATTR, RESUME_DIRS_ATTR, TRIAL_DIR_ATTR, retain_top_k


def _trial(root, study, number, state, value=None, **attrs):
    folder = f"s/trials/{number:05d}"
    (root / folder).mkdir(parents=True)
    for name in ("best.pt", "last.pt"):
        (root / folder / name).write_bytes(b"checkpoint")
    study.add_trial(create_trial(state=state, value=value, params={"lr": 0.1},
                                 distributions={"lr": FloatDistribution(0.01, 1.0)},
                                 user_attrs={TRIAL_DIR_ATTR: folder, **attrs}))
    return root / folder


def test_keeps_top_k_best_and_the_resume_state_a_retry_still_needs(tmp_path):
    study = optuna.create_study(direction="maximize")
    low = _trial(tmp_path, study, 0, TrialState.COMPLETE, 0.5)
    high = _trial(tmp_path, study, 1, TrialState.COMPLETE, 0.9)
    lost = _trial(tmp_path, study, 2, TrialState.FAIL)            # its retry is below
    pending = _trial(tmp_path, study, 3, TrialState.FAIL)         # not retried yet
    retry = _trial(tmp_path, study, 4, TrialState.COMPLETE, 0.7,
                   **{RESUME_DIRS_ATTR: ["s/trials/00002"]})

    kept = retain_top_k(study, tmp_path, 2)

    assert kept == {1: "s/trials/00001/best.pt", 4: "s/trials/00004/best.pt"}
    assert study.user_attrs[CHECKPOINTS_ATTR] == {"1": "s/trials/00001/best.pt",
                                                  "4": "s/trials/00004/best.pt"}
    assert not (low / "best.pt").exists() and (high / "best.pt").exists()
    assert not any((folder / "last.pt").exists() for folder in (low, high, retry, lost))
    assert (pending / "last.pt").exists()   # a later retry resumes from it
