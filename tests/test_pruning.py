"""Pruning on samples seen, in real sweeps through the CLI: trials of every batch size are
reported at the same steps in samples, several times per epoch, and stopped between two
epochs; a study's early_terminate.min_iter stays in epochs."""
from __future__ import annotations

import optuna
from cli_helpers import one_line_error, sweep, sweep_json

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.pruners import MEDIAN_STARTUP_TRIALS
from torchsweep.sweeps.readout.trials import load_study
from torchsweep.sweeps.storage import open_storage, storage_url

SPLIT = 1437                     # digits' training split at val_fraction 0.2
QUARTERS = [round(k * SPLIT / 4) for k in (1, 2, 3, 4)]    # where each epoch is evaluated
TINY = ("--set", "model=mlp", "--set", "width=8", "--set", "evaluations_per_epoch=4", "--wandb",
        "disabled", "--seed", "0")


def test_trials_are_pruned_within_epochs_at_steps_every_batch_size_shares(tmp_path):
    report = sweep_json("run", "quarters", "--param", "lr=log:0.0005..3", "--param",
                        "batch_size=64,512", "--sampler", "random", "--pruner", "median",
                        "--trials", "8", "--set", "epochs=4", *TINY, "--root", tmp_path)
    trials = {t["number"]: t for t in report["trials"]}
    pruned = [t for t in trials.values() if t["state"] == "pruned"]
    # the median pruner's warm-up is 2 epochs: none is stopped before; one is within an epoch
    assert pruned and all(t["pruned_at"] >= 2 for t in pruned)
    assert any(t["pruned_at"] % 1 for t in pruned), pruned
    within = next(t for t in pruned if t["pruned_at"] % 1)
    assert within["epochs_run"] < within["epochs_trained"] < within["epochs_run"] + 1

    # What the pruner compared, as Optuna's storage holds it: the value at every quarter of
    # every epoch, at steps in samples that do not depend on the batch size.
    study = optuna.load_study(study_name="quarters",
                              storage=open_storage(storage_url(tmp_path, None), create=False))
    every_step = [epoch * SPLIT + q for epoch in range(4) for q in QUARTERS]
    steps = {}
    for trial in study.trials:
        reported = sorted(trial.intermediate_values)
        assert reported == every_step[:len(reported)]
        steps.setdefault(trial.params["batch_size"], set()).update(reported)
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert round(reported[-1] / SPLIT, 3) == trials[trial.number]["pruned_at"]
    assert steps[64] == steps[512] == set(every_step)


WITHIN = """\
name: {name}
method: random
pruner: median
{within}
parameters:
  batch_size: {{values: [32, 512]}}
  lr: {{distribution: log_uniform_values, min: 0.003, max: 0.3}}
  epochs: {{value: 3}}
  model: {{value: mlp}}
  width: {{value: 8}}
  evaluations_per_epoch: {{value: 1}}
"""


def _pruned_among_fewer_than_startup_peers(tmp_path, within: str) -> tuple[list, list]:
    """(pruned trials, those of them pruned before MEDIAN_STARTUP_TRIALS trials of their own
    batch size had completed): a serial run finishes its trials in number order."""
    name = "within" if within else "across"
    study = tmp_path / f"{name}.yaml"
    study.write_text(WITHIN.format(name=name, within=within))
    report = sweep_json("run", study, "--trials", "12", "--root", tmp_path, "--wandb",
                        "disabled", "--seed", "0")
    trials = sorted(report["trials"], key=lambda t: t["number"])
    pruned, early = [], []
    for trial in trials:
        if trial["state"] != "pruned":
            continue
        pruned.append(trial)
        size = trial["params"]["batch_size"]
        peers = [t for t in trials[:trial["number"]]
                 if t["state"] == "completed" and t["params"]["batch_size"] == size]
        if len(peers) < MEDIAN_STARTUP_TRIALS:
            early.append(trial)
    return pruned, early


def test_prune_within_compares_a_trial_only_with_its_own_batch_size(tmp_path):
    """Across batch sizes the median pruner cuts batch 512, which learns less per sample seen,
    as soon as three trials of any batch size have finished; within, each batch size waits for
    three of its own, and its learning rates compete among themselves."""
    pruned, early = _pruned_among_fewer_than_startup_peers(tmp_path, "")
    assert early, pruned     # the seeded run that shows the difference
    pruned, early = _pruned_among_fewer_than_startup_peers(tmp_path, "prune_within: batch_size")
    assert pruned and not early, pruned
    shown = sweep("space", tmp_path / "within.yaml", env={"COLUMNS": "200"})
    assert "median pruner within each batch_size" in shown.stdout


def test_prune_within_on_the_command_line_is_kept_with_the_study(tmp_path):
    space = ("--param", "batch_size=32,512", "--param", "lr=log:0.01..0.1", "--set", "epochs=1",
             *TINY, "--trials", "2", "--root", tmp_path)
    report = sweep_json("run", "flagged", *space, "--prune-within", "batch_size")
    assert report["ran"] == 2
    # the study's saved file carries it, so that `sweep worker` on any machine prunes alike
    assert sweep_json("space", "flagged", "--root", tmp_path)["prune_within"] == "batch_size"
    assert "--prune-within" in sweep("run", "--help", env={"COLUMNS": "200"}).stdout


def test_prune_within_an_unknown_parameter_is_one_line_and_writes_nothing(tmp_path):
    result = sweep("run", "flagged", "--param", "batch_size=32,512", "--prune-within", "batch",
                   "--root", tmp_path / "root", "--wandb", "disabled")
    one_line_error(result, 2, 'error: command line: prune_within: "batch" is not a parameter; '
                              'name one of batch_size')
    assert not (tmp_path / "root").exists()


def test_a_study_that_names_no_pruner_halves_successively(tmp_path):
    """The default from bench/search.py: a run of a study that names no pruner builds
    successive halving (first cut at 1 epoch, eta 3), records it for its workers, and stops
    exactly the trials Optuna's own SuccessiveHalvingPruner stops, fed the same values in the
    same order. early_terminate still means hyperband, and a study that names its pruner
    keeps it."""
    report = sweep_json("run", "plain", "--param", "lr=log:0.001..0.5", "--sampler", "random",
                        "--trials", "8", "--set", "epochs=2", "--set", "model=mlp", "--set",
                        "width=8", "--set", "evaluations_per_epoch=1", "--set",
                        "noise_scale_every=0", "--wandb", "disabled", "--seed", "0",
                        "--root", tmp_path)
    stored = load_study("plain", tmp_path, None)
    assert attrs.shared_settings(stored)["pruner"] == "successive_halving"
    # Its only rung within 2 epochs is at 1: the median pruner waits 2 epochs, hyperband's
    # brackets cut elsewhere.
    pruned = [t for t in report["trials"] if t["state"] == "pruned"]
    assert pruned and {t["pruned_at"] for t in pruned} == {1}, \
        [(t["number"], t["state"], t["pruned_at"]) for t in report["trials"]]
    assert all(t["reason"] is None for t in report["trials"])    # pruned by the pruner

    halving = optuna.create_study(direction="maximize", pruner=optuna.pruners.
                                  SuccessiveHalvingPruner(min_resource=SPLIT, reduction_factor=3))
    for trial in sorted(stored.trials, key=lambda t: t.number):   # one worker: in this order
        replayed = halving.ask()
        for step, value in sorted(trial.intermediate_values.items()):
            replayed.report(value, step)
            if replayed.should_prune():
                assert trial.state == optuna.trial.TrialState.PRUNED, trial.number
                assert step == max(trial.intermediate_values), trial.number
                halving.tell(replayed, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE, trial.number
            halving.tell(replayed, trial.value)

    titles = {study: sweep("space", study, *extra, env={"COLUMNS": "200"}).stdout.splitlines()[0]
              for study, extra in (("plain", ("--param", "lr=log:0.01..0.1")),
                                   ("full_study", ()), ("optimizer_study", ()))}
    assert "successive_halving pruner" in titles["plain"]
    assert "hyperband pruner" in titles["full_study"]
    assert "median pruner" in titles["optimizer_study"]
