"""Training functions as a user writes them, importable (`functions:train`) for `sweep worker
--function` and `sweep run --function`; tests/python_scripts.py runs them from Python.

`train(trial)` is the API's kind: it resumes from its checkpoint and reports `val_loss` each
epoch. `quickstart()` is W&B's: wandb.init(), wandb.config, wandb.log. Both take a few
hundredths of a second an epoch (EPOCH_SECONDS); their loss falls faster with a larger
learning_rate. `bad_after` makes the trials from that number on learn nothing, and `stall_at`
makes such a trial wait after that epoch until it is stopped, so a test of pruning need not
race the pruner against the trial's last epoch. `kill_at` makes trial 0 (its retry has another
number) SIGKILL its own worker process right after saving that epoch's checkpoint.
"""
import math
import os
import signal
import time

EPOCH_SECONDS = float(os.environ.get("EPOCH_SECONDS", "0.05"))
STALL_SECONDS = 120


def _stall(epoch):
    # Short sleeps: a stopped function sees the stop between two of them.
    for _ in range(int(STALL_SECONDS / 0.05)):
        time.sleep(0.05)
    raise RuntimeError(f"a bad trial was not stopped in its epoch {epoch}")


def train(trial):
    params = trial.params
    state = trial.load_checkpoint() or {"epoch": 0, "loss": 2.0, "started_at": 0}
    if state["epoch"] and not state.get("resumed"):
        state = {**state, "resumed": state["epoch"]}
    bad = trial.number >= params.get("bad_after", 1_000_000)
    for epoch in range(state["epoch"], params.get("epochs", 4)):
        state["loss"] *= 1.0 if bad else math.exp(-params["learning_rate"])
        time.sleep(EPOCH_SECONDS)
        trial.report(val_loss=state["loss"], step=epoch)
        state["epoch"] = epoch + 1
        trial.save_checkpoint(state)
        if epoch + 1 == params.get("kill_at") and trial.number == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        if bad and epoch + 1 == params.get("stall_at"):
            _stall(epoch)
    return {"resumed_from": state.get("resumed", 0)}


def quickstart():
    import wandb

    wandb.init(project="quickstart")
    config = wandb.config
    bad = int(os.environ.get("SWEEP_TRIAL_NUMBER", 0)) >= config.get("bad_after", 1_000_000)
    loss = 2.0
    for epoch in range(1, config.epochs + 1):
        loss *= 1.0 if bad else math.exp(-config.learning_rate)
        wandb.log({"epoch": epoch, "val_loss": loss, "train_loss": 0.9 * loss})
        time.sleep(EPOCH_SECONDS)
        if bad and epoch == config.get("stall_at"):
            _stall(epoch)
    wandb.finish()
