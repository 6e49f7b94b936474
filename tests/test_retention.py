"""Checkpoint retention on a real Optuna study: top-k best.pt kept, resume state only while needed."""
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.retention import retain_top_k


def _trial(root, study, number, state, value=None, **user_attrs):
    folder = f"s/trials/{number:05d}"
    (root / folder).mkdir(parents=True)
    for name in ("best.pt", "last.pt"):
        (root / folder / name).write_bytes(b"checkpoint")
    study.add_trial(create_trial(state=state, value=value, params={"lr": 0.1},
                                 distributions={"lr": FloatDistribution(0.01, 1.0)},
                                 user_attrs={attrs.TRIAL_DIR: folder, **user_attrs}))
    return root / folder


def test_keeps_top_k_best_and_the_resume_state_a_retry_still_needs(tmp_path):
    study = optuna.create_study(direction="maximize")
    low = _trial(tmp_path, study, 0, TrialState.COMPLETE, 0.5)
    high = _trial(tmp_path, study, 1, TrialState.COMPLETE, 0.9)
    lost = _trial(tmp_path, study, 2, TrialState.FAIL)            # its retry is below
    pending = _trial(tmp_path, study, 3, TrialState.FAIL)         # not retried yet
    retry = _trial(tmp_path, study, 4, TrialState.COMPLETE, 0.7,
                   **{attrs.RESUME_DIRS: ["s/trials/00002"]})

    kept = retain_top_k(study, tmp_path, 2)

    assert kept == {1: "s/trials/00001/best.pt", 4: "s/trials/00004/best.pt"}
    assert attrs.kept_checkpoints(study) == {"1": "s/trials/00001/best.pt",
                                                  "4": "s/trials/00004/best.pt"}
    assert not (low / "best.pt").exists() and (high / "best.pt").exists()
    assert not any((folder / "last.pt").exists() for folder in (low, high, retry, lost))
    assert (pending / "last.pt").exists()   # a later retry resumes from it
