"""Repeats (`repeats: N`, `--repeats N`) and `sweep best --confirm K --seeds N`, through the CLI
with real training and real storage, on a lucky-seed case built on purpose: `lucky` is the mlp
on seed 0 and a model blind to its input on every other seed; `steady` is a narrower mlp,
worse than the mlp on seed 0 and far better than the blind model on any other
(tests/lucky_models.py)."""
import json
import shutil

import pytest
from cli_helpers import metrics_lines, one_line_error, sweep, sweep_json

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.trials import load_study
from torchsweep.trainer.checkpoint import load_checkpoint

FAST = ("--set", "epochs=1", "--set", "width=8", "--set", "batch_size=128", "--set", "lr=0.5",
        "--wandb", "disabled", "--sampler", "grid")
LUCKY, STEADY = "lucky_models:lucky", "lucky_models:steady"
STUDY = """\
method: grid
repeats: 3
metric: {name: val_acc}
parameters:
  model: {values: ["lucky_models:lucky", "lucky_models:steady"]}
"""


def by_model(report):
    return {t["params"]["model"]: t for t in report["trials"]}


@pytest.fixture(scope="module")
def lucky(tmp_path_factory):
    """The two configurations on one seed: the lucky one looks best."""
    root = tmp_path_factory.mktemp("lucky")
    report = sweep_json("run", "lucky", "--param", f"model={LUCKY},{STEADY}", *FAST,
                        "--root", root)
    return root, by_model(report)


@pytest.fixture
def own_lucky(lucky, tmp_path):
    """A copy of the lucky study for a test that adds to it (a confirmation draws seeds past
    every earlier one): each such test sees the study as the run left it, in any order."""
    root, trials = lucky
    shutil.copytree(root, tmp_path / "lucky")
    return tmp_path / "lucky", trials


def best_value(folder, metric="val_acc") -> float:
    """The best epoch's value, from the metrics.jsonl a run wrote in `folder`."""
    return max(line[metric] for line in metrics_lines(folder))


def test_one_seed_ranks_the_lucky_configuration_first(lucky):
    _, trials = lucky
    assert trials[LUCKY]["value"] > trials[STEADY]["value"]
    assert trials[LUCKY]["repeats"] is None   # one seed: nothing to spread


def test_repeats_in_the_study_file_rank_by_the_mean_of_the_seeds(tmp_path):
    study = tmp_path / "repeated.yaml"
    study.write_text(STUDY)
    run = sweep_json("run", study, *FAST, "--root", tmp_path)
    trials = by_model(run)
    for trial in trials.values():
        seeds = trial["repeats"]
        assert seeds["seeds"] == [0, 1, 2] and seeds["planned"] == 3
        values = seeds["values"]["val_acc"]
        assert trial["value"] == pytest.approx(sum(values) / 3)
        assert seeds["mean"]["val_acc"] == pytest.approx(trial["value"])
        assert seeds["std"]["val_acc"] > 0
    # Seed 0 alone favours the lucky one; the mean of three does not.
    assert trials[LUCKY]["repeats"]["values"]["val_acc"][0] > \
        trials[STEADY]["repeats"]["values"]["val_acc"][0]
    assert run["best"]["params"]["model"] == STEADY
    # The first seed trains in the trial's own folder, whose checkpoint is the one kept; the
    # other seeds keep their curves for the report, not their checkpoints. Each seed's value
    # is its own folder's best epoch.
    steady = trials[STEADY]
    values = steady["repeats"]["values"]["val_acc"]
    folder = tmp_path / "repeated" / "trials" / f"{steady['number']:05d}"
    assert load_checkpoint(folder / "best.pt")["config"]["seed"] == 0
    assert best_value(folder) == pytest.approx(values[0])
    for seed in (1, 2):
        kept = sorted(p.name for p in (folder / "seeds" / str(seed)).iterdir())
        assert "metrics.jsonl" in kept and "best.pt" not in kept and "last.pt" not in kept
        assert best_value(folder / "seeds" / str(seed)) == pytest.approx(values[seed])
    table = sweep("show", "repeated", "--root", tmp_path, env={"COLUMNS": "200"})
    assert table.stdout.count("(3 seeds)") == 2, table.stdout
    shown = sweep_json("show", "repeated", "--root", tmp_path)
    assert {t["number"]: t["repeats"]["seeds"] for t in shown["trials"]} == \
        {t["number"]: [0, 1, 2] for t in trials.values()}


def test_repeats_on_the_command_line_override_the_file_and_its_epoch_pruner(tmp_path):
    study = tmp_path / "repeated.yaml"
    study.write_text(STUDY + "pruner: median\n")
    run = sweep("run", study, *FAST, "--repeats", "2", "--trials", "1", "--root", tmp_path)
    assert run.exit_code == 0, run.stderr
    assert "pruner median: compares epochs" in run.stderr and "wilcoxon" in run.stderr
    (trial,) = sweep_json("show", "repeated", "--root", tmp_path)["trials"]
    assert trial["repeats"]["seeds"] == [0, 1]
    settings = attrs.shared_settings(load_study("repeated", tmp_path, None))
    assert (settings["pruner"], settings["repeats"]) == ("wilcoxon", 2)
    # Continued without --repeats, the study keeps its two seeds, not the file's three.
    again = sweep_json("run", study, *FAST, "--trials", "1", "--root", tmp_path)
    assert [t["repeats"]["seeds"] for t in again["trials"]] == [[0, 1], [0, 1]]


def test_the_wilcoxon_pruner_stops_a_configuration_worse_on_every_seed(tmp_path):
    # The grid runs the mlp first (every worker shuffles a grid alike, engine/samplers/grid.py,
    # and that order puts this listing's mlp first); the blind model, worse on
    # each of the same seeds, is stopped once four paired seeds make the signed-rank test's
    # p < 0.1 (1/16).
    run = sweep_json("run", "paired", "--param", "model=lucky_models:blind,mlp", *FAST,
                     "--repeats", "6", "--seed", "1", "--root", tmp_path)
    trials = by_model(run)
    assert trials["mlp"]["number"] < trials["lucky_models:blind"]["number"]
    assert trials["mlp"]["repeats"]["seeds"] == [0, 1, 2, 3, 4, 5]
    blind = trials["lucky_models:blind"]
    assert blind["repeats"]["seeds"] == [0, 1, 2, 3] and blind["repeats"]["planned"] == 6
    assert blind["value"] == pytest.approx(sum(blind["repeats"]["values"]["val_acc"]) / 4)


def test_confirm_on_fresh_seeds_overturns_a_lucky_seed_and_exports_the_winner(own_lucky,
                                                                               tmp_path):
    root, trials = own_lucky
    out = tmp_path / "export"
    result = sweep_json("best", "lucky", "--confirm", "2", "--seeds", "3", "--export", out,
                        "--root", root)
    confirmed = result["confirmation"]
    assert confirmed["seeds"] == [1, 2, 3]           # the study used seed 0 only
    first, second = confirmed["trials"]
    assert (first["trial"], second["trial"]) == (trials[STEADY]["number"],
                                                 trials[LUCKY]["number"])
    assert (first["study_rank"], second["study_rank"]) == (2, 1)
    assert first["low"] < first["mean"] < first["high"] and first["n"] == 3
    assert first["mean"] == pytest.approx(sum(first["values"]) / 3)
    # Each run trained in <root>/<study>/confirm/<trial>/<seed>/ and kept its metrics only.
    for row in confirmed["trials"]:
        runs = root / "lucky" / "confirm" / f"{row['trial']:05d}"
        assert sorted(p.name for p in runs.iterdir()) == ["1", "2", "3"]
        for seed, value in zip(confirmed["seeds"], row["values"]):
            kept = {p.name for p in (runs / str(seed)).iterdir()}
            assert "metrics.jsonl" in kept and not kept & {"best.pt", "last.pt"}
            assert best_value(runs / str(seed)) == pytest.approx(value)
    assert result["export"]["trial"] == trials[STEADY]["number"]
    written = json.loads((out / "metrics.json").read_text())
    assert written["trial"] == trials[STEADY]["number"]
    assert written["confirmation"]["seeds"] == [1, 2, 3]
    assert written["confirmation"]["mean"] == pytest.approx(first["mean"])
    assert (out / "model.safetensors").is_file()
    # A second confirmation draws seeds no earlier one used.
    again = sweep_json("best", "lucky", "--confirm", "1", "--seeds", "2", "--root", root)
    assert again["confirmation"]["seeds"] == [4, 5]


def test_confirm_prints_its_table(own_lucky):
    root, trials = own_lucky
    result = sweep("best", "lucky", "--confirm", "2", "--seeds", "2", "--root", root)
    assert result.exit_code == 0, result.stderr
    assert "interval" in result.stdout and "confirmed winner: trial" in result.stdout
    assert f"the study ranked trial {trials[LUCKY]['number']} first" in result.stdout


PROGRAM = """\
method: grid
program: train.py
metric: {name: loss}
parameters:
  x: {values: [1, 2]}
"""


@pytest.mark.parametrize("args, code, message", [
    (("run", "bad", "--param", "lr=0.1,0.2", "--repeats", "0"), 2, "--repeats"),
    (("run", "bad", "--param", "lr=0.1,0.2", "--param", "seed=0,1", "--repeats", "2"), 2,
     "seed is a search dimension"),
    (("run", "bad", "--param", "lr=0.1,0.2", "--repeats", "2", "--pruner", "median"), 2,
     "pruner median compares trials epoch by epoch"),
    (("run", "bad", "--param", "lr=0.1,0.2", "--pruner", "wilcoxon"), 2,
     "it needs repeats of 2 or more"),
])
def test_bad_repeats_are_one_line_and_nothing_is_written(tmp_path, args, code, message):
    one_line_error(sweep(*args, "--root", tmp_path / "runs"), code, message)
    assert not (tmp_path / "runs").exists()


def test_repeats_in_a_file_are_checked(tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text(STUDY.replace("repeats: 3", "repeats: 0"))
    one_line_error(sweep("run", study, "--root", tmp_path / "runs"), 2,
                   "repeats: expected an integer >= 1, got 0")


def test_a_program_study_refuses_repeats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print('never run')\n")
    (tmp_path / "program.yaml").write_text(PROGRAM)
    one_line_error(sweep("run", "program.yaml", "--repeats", "2", "--root", tmp_path / "runs"),
                   2, "this study runs your own code", "trainer studies only")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, message", [
    (("--seeds", "3"), "needs --confirm"),
    (("--confirm", "2", "--seeds", "1"), "--seeds"),
    (("--confirm", "2", "--trial", "0", "--export", "x"), "leave --trial out"),
])
def test_bad_confirm_options_are_one_line(lucky, args, message):
    root, _ = lucky
    one_line_error(sweep("best", "lucky", *args, "--root", root), 2, message)


def test_the_best_epochs_reliability_bins_reach_the_trial(lucky):
    root, _ = lucky
    for trial in load_study("lucky", root, None).get_trials():
        bins = attrs.best_reliability(trial)
        assert set(bins) == {"confidence", "accuracy", "count"} and sum(bins["count"]) > 0
