"""--artifacts: a trial's last.pt goes to an Optuna artifact store after every epoch, and a retry
on a machine with another --root downloads it and resumes. The filesystem store only: no real
S3-compatible server installs from the package registries here, and a mock would prove nothing."""
import os
import signal

import pytest
from cli_helpers import sweep
from optuna.trial import TrialState
from worker_helpers import QUIET, TINY_SPACE, epochs_saved, finish, start, trials, wait_for

from torchsweep.sweeps import attrs

# Short epochs (~0.1 s on an idle core), enough of them to be stopped between two.
STEADY_SPACE = ("--param", "lr=log:0.01..0.1", "--set", "model=mlp", "--set", "width=8",
                "--set", "batch_size=64", "--set", "epochs=12", "--sampler", "random",
                "--pruner", "none")


def test_a_checkpoint_follows_its_trial_to_another_root(tmp_path):
    """Run on "machine a" until preempted; the retry on "machine b" (another root, same
    storage and store) resumes from the checkpoint it downloads."""
    storage, store = tmp_path / "shared" / "studies.journal", tmp_path / "shared" / "artifacts"
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    process = start("run", "art", *STEADY_SPACE, "--trials", "1",
                    "--root", first, "--storage", storage, "--artifacts", store, *QUIET)
    # Epoch 2 saved: epoch 1's upload is done (a signal waits for an upload to finish).
    wait_for(lambda: epochs_saved(first / "art" / "trials" / "00000" / "last.pt") >= 2,
             timeout=120, what="two epochs", process=process)
    os.kill(process.pid, signal.SIGTERM)   # preempted: the trial is queued to resume
    returncode, _, err = finish(process)
    assert returncode == 143, err

    stopped = trials("art", first, str(storage))[0]
    uploaded = attrs.last_artifact(stopped)
    assert stopped.state == TrialState.FAIL and uploaded["epoch"] >= 1
    # One copy per trial: each epoch's upload replaces the one before.
    assert [p.name for p in store.iterdir()] == [uploaded["id"]]

    # Another machine, another root: nothing of the trial is there but the store has it.
    worked = sweep("worker", "art", "--root", second, "--storage", storage, "--artifacts", store,
                   *QUIET)
    assert worked.exit_code == 0, worked.stderr
    retry = [t for t in trials("art", first, str(storage)) if attrs.is_retry(t)][0]
    assert retry.state == TrialState.COMPLETE
    assert attrs.resumed_at(retry) == uploaded["epoch"]
    assert (second / attrs.trial_dir(retry) / "metrics.jsonl").is_file()   # it ran there
    assert attrs.summary(retry).epochs_run == 12


@pytest.mark.parametrize("url, message", [
    ("s3://", "--artifacts s3://: no bucket; expected s3://BUCKET or s3://BUCKET/PREFIX"),
    ("ftp://host/x", "--artifacts ftp://host/x: unknown scheme; give a folder (shared by the "
                     "machines) or s3://BUCKET/PREFIX"),
    ("{file}", "--artifacts {file}: not a folder"),
])
def test_a_store_that_cannot_be_used_is_refused_before_anything_is_written(tmp_path, url,
                                                                            message):
    file = tmp_path / "a-file"
    file.write_text("")
    url, message = url.format(file=file), message.format(file=file)
    result = sweep("run", "x", *TINY_SPACE, "--root", tmp_path / "runs", "--artifacts", url)
    assert result.exit_code == 4
    assert result.stderr == f"error: {message}\n"
    assert not (tmp_path / "runs").exists()
