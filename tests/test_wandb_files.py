"""Every sweep file W&B accepts runs here with W&B's meaning. One small file per case, under
tests/wandb_files/ and written as people write them, goes through the real CLI with a tiny
program (tests/programs/), W&B offline. What the program got is read back with W&B's own reader,
and what W&B would have done is asked of W&B itself: its sweep engine (the `sweeps` package:
grid, random search, hyperband) and its agent's functions (command line, parameter file)."""
import dataclasses
import json
import random
import shutil
from pathlib import Path

import optuna
import pytest
from cli_helpers import one_line_error, sweep, sweep_process
from needs import needs_wandb_engine
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args, load_sweep_config
from wandb.sdk.lib.config_util import save_config_file_from_dict
from wandb_helpers import leet_summary, wandb_engine
from worker_helpers import trials

from torchsweep.sweeps.engine.pruners.wandb_hyperband import WandbHyperband
from torchsweep.sweeps.study import load_study_file, parse_study
from torchsweep.sweeps.study.early_terminate import bands
from torchsweep.sweeps.tracking.local_runs import list_runs

FILES = Path(__file__).parent / "wandb_files"
PROGRAMS = Path(__file__).parent / "programs"

# W&B's grid search: every run it proposes for a sweep config, as {name: value}.
WANDB_GRID = """
import json, sys
from sweeps.grid_search import grid_search_next_runs
runs = grid_search_next_runs([], json.load(sys.stdin), n=1000)
print(json.dumps([{k: v["value"] for k, v in run.config.items()} for run in runs if run]))
"""
# W&B's random search: the values of one parameter in n runs, from a seeded `random`.
WANDB_RANDOM = """
import json, random, sys
from sweeps.random_search import random_search_next_runs
config, name, n = json.load(sys.stdin)
random.seed(0)
print(json.dumps([run.config[name]["value"] for run in random_search_next_runs(config, n=n)]))
"""
# W&B's hyperband: for each case, whether it stops the running run (the last one), the others
# having finished, each with its history of the metric `m`.
WANDB_STOPS = """
import json, sys
from sweeps import RunState, SweepRun, stop_runs
stopped = []
for case in json.load(sys.stdin):
    *done, running = [SweepRun(name=str(i), state=RunState.finished, history=[{"m": v} for v in h])
                      for i, h in enumerate(case["histories"])]
    running.state = RunState.running
    config = {"method": "random", "metric": {"name": "m", "goal": case["goal"]},
              "early_terminate": case["early_terminate"], "parameters": {"a": {"value": 1}}}
    stopped.append(running in stop_runs(config, [*done, running]))
print(json.dumps(stopped))
"""


def project(tmp_path: Path, study_file: str, *programs: str) -> Path:
    """A folder as a user has it: the sweep file beside its program. The file's path."""
    shutil.copy(FILES / study_file, tmp_path / study_file)
    for program in programs:
        shutil.copy(PROGRAMS / program, tmp_path / program)
    return tmp_path / study_file


def run(study_file: Path, *args: str) -> dict:
    done = sweep_process("run", study_file.name, "--root", "runs", "--json", *args,
                         cwd=study_file.parent, env={"EPOCH_SECONDS": "0.05"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def said(result) -> str:
    """What a command printed, its table's wrapped lines joined."""
    return " ".join((result.stdout + result.stderr).split())


def key(values: dict) -> str:
    return json.dumps(values, sort_keys=True)


def test_a_grid_file_without_a_metric_runs_every_trial_to_its_end(tmp_path):
    """W&B's boolean-parameters example names no metric, and W&B runs its whole grid; so do
    we, unpruned. `sweep show` lists the trials, `sweep best` says there is nothing to rank by,
    and every trial's folder is kept (both, with keep_top_k 1)."""
    needs_wandb_engine()
    study = project(tmp_path, "grid_no_metric.yaml", "flags.py")
    space = sweep("space", study)
    assert space.exit_code == 0, said(space)
    assert "none: every trial runs to its end (no metric to compare trials by)" in said(space)
    report = run(study, "--keep-top-k", "1")
    assert [(t["state"], t["value"], t["pruned_at"]) for t in report["trials"]] == [
        ("completed", None, None)] * 2
    grid = wandb_engine(WANDB_GRID, load_sweep_config(str(study)))
    assert sorted(key(t["params"]) for t in report["trials"]) == sorted(map(key, grid))
    runs = {found.trial: found.folder for found in list_runs(tmp_path / "runs", study.stem)}
    for trial in report["trials"]:   # the program got its values, as W&B's reader shows
        config = leet_summary(runs[trial["number"]])["config"]
        assert {name: config[name] for name in trial["params"]} == trial["params"]
    root = tmp_path / "runs"
    shown = json.loads(sweep("show", study.stem, "--root", root, "--json").stdout)
    assert [t["state"] for t in shown["trials"]] == ["completed"] * 2
    best = sweep("best", study.stem, "--root", root)
    assert best.exit_code == 0 and not best.stderr, said(best)
    assert said(best).startswith(f"study '{study.stem}' has no metric, so nothing ranks its 2 "
                                 f"trials; `sweep show {study.stem}` lists them")
    one_line_error(sweep("best", study.stem, "--root", root, "--export", tmp_path / "best"), 5,
                   "nothing to export: study 'grid_no_metric' has no metric")
    assert sorted(p.name for p in (root / study.stem / "trials").iterdir()) == ["00000", "00001"]


def test_nested_groups_reach_the_program_as_wandbs_agent_passes_them(tmp_path):
    """`optim: {parameters: {lr, momentum}}`: W&B's grid proposes nested configs, its agent
    writes them to the program's parameter file and renders them on its command line; the
    program's wandb.config holds them nested. Optuna's names are flat (`optim.lr`)."""
    needs_wandb_engine()
    study = project(tmp_path, "nested_optim.yaml", "echo_command.py")
    report = run(study)
    grid = wandb_engine(WANDB_GRID, load_sweep_config(str(study)))
    runs = {found.trial: found.folder for found in list_runs(tmp_path / "runs", study.stem)}
    got = []
    for trial in report["trials"]:
        params, folder = trial["params"], tmp_path / "runs" / study.stem / "trials" / \
            f"{trial['number']:05d}"
        assert set(params) == {"optim.lr", "optim.momentum", "batch_size"}
        nested = {"optim": {"lr": params["optim.lr"], "momentum": params["optim.momentum"]},
                  "batch_size": params["batch_size"]}
        args = {name: {"value": value} for name, value in nested.items()}
        started = json.loads((folder / "started.json").read_text())
        # W&B's default command: ${env} ${interpreter} ${program} ${args}
        assert started["argv"][1:] == create_sweep_command_args({"args": args})["args"]
        assert started["config"] == nested == leet_summary(runs[trial["number"]])["config"]
        save_config_file_from_dict(str(tmp_path / "agent.yaml"), args)
        assert (folder / "sweep-params.yaml").read_text() == (tmp_path / "agent.yaml").read_text()
        got.append(nested)
    assert sorted(map(key, got)) == sorted(map(key, grid))


def test_a_fractional_eta_stops_runs_at_wandbs_bands(tmp_path):
    """`eta: 1.5, min_iter: 2`: W&B's bands 2, 3, 4, 6, ... From trial 3 on the program learns
    nothing and waits after its epoch 2 until it is stopped: only the pruner can end it. W&B's
    own hyperband, given each trial's history as it grew, stops exactly that one, there."""
    needs_wandb_engine()
    study = project(tmp_path, "hyperband_eta_1_5.yaml", "quickstart.py")
    space = sweep("space", study)
    assert "wandb_hyperband pruner" in said(space)
    assert "(early_terminate's eta 1.5 is fractional, which W&B takes and Optuna's hyperband " \
           "does not)" in said(space)
    report = run(study, "--trials", "4", "--wandb", "disabled")
    assert [(t["state"], t["pruned_at"]) for t in report["trials"]] == [
        ("completed", None)] * 3 + [("pruned", 2)]
    histories = [[value for _, value in sorted(t.intermediate_values.items())]
                 for t in trials(study.stem, tmp_path / "runs")]
    cases = [{"goal": "minimize", "early_terminate": load_sweep_config(str(study))[
        "early_terminate"], "histories": [*histories[:k], histories[k][:steps]]}
             for k in range(len(histories)) for steps in range(1, len(histories[k]) + 1)]
    stopped = [steps == len(histories[k]) and report["trials"][k]["state"] == "pruned"
               for k in range(len(histories)) for steps in range(1, len(histories[k]) + 1)]
    assert wandb_engine(WANDB_STOPS, cases) == stopped


def test_the_bands_pruner_decides_as_wandbs_hyperband_on_any_histories():
    """W&B's hyperband_stopping.py against ours on random runs: fractional and whole etas,
    min_iter and max_iter + s, either goal. Steps are W&B's iterations, 1, 2, 3, ..."""
    needs_wandb_engine()
    rng, cases = random.Random(7), []
    for _ in range(200):
        eta = rng.choice([1.25, 1.5, 2, 2.5, 3])
        block = rng.choice([{"min_iter": rng.randint(1, 3)},
                            {"max_iter": rng.choice([4, 6, 9, 12]), "s": rng.randint(1, 3)}])
        cases.append({"goal": rng.choice(["minimize", "maximize"]),
                      "early_terminate": {"type": "hyperband", "eta": eta, **block},
                      "histories": [[round(rng.random(), 2) for _ in range(rng.randint(1, 9))]
                                    for _ in range(rng.randint(1, 7))]})
    cases = [case for case in cases if bands(case["early_terminate"])]   # W&B refuses none
    theirs = wandb_engine(WANDB_STOPS, cases)
    ours = []
    for case in cases:
        study = optuna.create_study(direction=case["goal"])
        for history in case["histories"]:
            study.add_trial(optuna.trial.create_trial(value=history[-1], intermediate_values=dict(
                enumerate(history, start=1))))
        block = case["early_terminate"]
        pruner = WandbHyperband(sorted({max(1, round(band)) for band in bands(block)}),
                                block["eta"])
        ours.append(pruner.prune(study, study.trials[-1]))
    assert ours == theirs
    assert 0.1 < sum(ours) / len(ours) < 0.9   # both decisions are tried


def test_a_value_listed_twice_is_kept_as_wandbs_engine_keeps_it(tmp_path):
    """`values: [true, false, true]`: W&B's grid runs each point once, its random search draws
    true two times in three. One notice names the file and line."""
    needs_wandb_engine()
    study = project(tmp_path, "values_twice.yaml", "flags.py")
    space = sweep("space", study)
    assert space.exit_code == 0, said(space)
    assert [line for line in space.stderr.splitlines() if "listed" in line] == [
        f"note: {study}: line 10: parameters.use_bn.values[2]: true is listed 2 times; the grid "
        f"runs it once, as W&B's grid does"]
    report = run(study)
    grid = wandb_engine(WANDB_GRID, load_sweep_config(str(study)))
    assert sorted(key(t["params"]) for t in report["trials"]) == sorted(map(key, grid))
    assert len(grid) == 2
    draws = 3000
    spec = dataclasses.replace(load_study_file(study), method="random")
    sampled = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ours = [spec.space.sample(sampled.ask())["use_bn"] for _ in range(draws)]
    random_file = {**load_sweep_config(str(study)), "method": "random"}
    theirs = wandb_engine(WANDB_RANDOM, [random_file, "use_bn", draws])
    for drawn in (ours, theirs):
        assert sum(drawn) / draws == pytest.approx(2 / 3, abs=0.04)   # 4.6 standard errors


def test_a_key_given_twice_is_the_last_one_as_wandbs_reader_reads_it(tmp_path):
    study = project(tmp_path, "key_twice.yaml")
    space = sweep("space", study)
    assert space.exit_code == 0, said(space)
    assert [line for line in space.stderr.splitlines() if "twice" in line] == [
        f"note: {study}: line 12: parameters.lr is given twice (first on line 7); the last one "
        f"is used, as W&B's reader (PyYAML) uses it"]
    resolved = json.loads(sweep("space", study, "--json").stdout)
    assert resolved["parameters"]["lr"] == load_sweep_config(str(study))["parameters"]["lr"]


def test_a_file_for_your_own_function_says_how_to_run_it(tmp_path):
    """No `program:`, and names that are not the trainer's (a Hugging Face style file, written
    for wandb.agent(function=...)): one line saying how to run it."""
    study = project(tmp_path, "function_file.yaml")
    for command in ("run", "space"):
        one_line_error(sweep(command, study, "--root", tmp_path / "runs"), 2,
                       f"{study}: metric.name: expected ", 'got "eval_loss"',
                       "add program: (your script)",
                       f"or run `sweep run {study} --function package.module:function`")
    assert not (tmp_path / "runs").exists()


def test_a_bayes_file_without_a_metric_is_refused_as_wandbs_engine_refuses_it(tmp_path):
    study = project(tmp_path, "bayes_no_metric.yaml")
    one_line_error(sweep("run", study, "--root", tmp_path / "runs"), 2,
                   f"{study}: metric: missing; bayes search learns from a metric (W&B's "
                   f"engine: 'requires \"metric\" section')", "or use method: random or grid")
    assert not (tmp_path / "runs").exists()


def test_a_program_study_that_names_no_pruner_is_not_pruned(tmp_path):
    """Trial 1 learns nothing: the trainer's default pruner (successive halving) would cut it
    at its first step. W&B prunes only with early_terminate, and so do we."""
    study = project(tmp_path, "no_early_terminate.yaml", "quickstart.py")
    space = sweep("space", study)
    assert "none: every trial runs to its end (your code names no early_terminate and no " \
           "pruner, and W&B would not prune it)" in said(space)
    report = run(study, "--trials", "2", "--wandb", "disabled")
    assert [(t["state"], t["epochs_run"]) for t in report["trials"]] == [("completed", 3)] * 2
    assert report["trials"][1]["value"] == 2.0   # it learned nothing, and ran to its end


def test_a_trainer_study_takes_a_group_of_settings_and_names_a_stranger(tmp_path):
    """For the trainer a nested group only gathers its settings (they are flat); a leaf that is
    not a setting is an error naming its key."""
    doc = {"method": "random", "parameters": {"optim": {"parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 0.01, "max": 0.1},
        "momentum": {"value": 0.8}}}, "epochs": {"value": 1}}}
    spec = parse_study(doc, name="s", source="s.yaml")
    assert list(spec.space.parameters) == ["lr", "momentum", "epochs"]
    assert parse_study(spec.to_dict(), name="s", source="s.yaml") == spec
    assert spec.to_dict()["parameters"]["optim"]["parameters"]["momentum"]["value"] == 0.8
    study = tmp_path / "s.yaml"
    study.write_text(json.dumps({**doc, "parameters": {"optim": {"parameters": {
        "lr": {"value": 0.1}, "mom": {"value": 0.8}}}}}))
    one_line_error(sweep("space", study), 2,
                   f"{study}: parameters.optim.parameters.mom: unknown setting 'mom'")


def test_nested_values_come_back_nested_by_their_path():
    """The one function that turns Optuna's flat names into W&B's nested config (a program's
    values, the Python API's trial.params); a flat name with a dot stays flat, as in W&B."""
    spec = parse_study({"method": "random", "metric": {"name": "loss"}, "program": "t.py",
                        "parameters": {"optim": {"parameters": {"lr": {"value": 0.1}, "betas": {
                            "parameters": {"b1": {"value": 0.9}}}}}, "head.dropout": {
                            "value": 0.5}}}, name="s", source="s")
    values = {"optim.lr": 0.1, "optim.betas.b1": 0.9, "head.dropout": 0.5}
    assert spec.space.nest(values) == {"optim": {"lr": 0.1, "betas": {"b1": 0.9}},
                                       "head.dropout": 0.5}
