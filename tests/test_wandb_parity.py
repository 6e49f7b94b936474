"""Where sweep promises to do what W&B does, checked against W&B's own code, not our memory of
it: the draws of W&B's engine (`sweeps/params.py`, HyperParameter.ppf), the command lines of
W&B's agent (`wandb/sdk/launch/sweeps/utils.py` and the loop of `Agent._command_run` in
`wandb/wandb_agent.py`), and the keys of W&B's schema that a local study ignores."""
import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from cli_helpers import sweep, sweep_process
from needs import needs_wandb_engine
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from torchsweep.sweeps.study import parse_parameter
from torchsweep.sweeps.study.command import MACROS, build_command
from torchsweep.sweeps.study.distributions import LATENT
from torchsweep.sweeps.study.rules import PROGRAM

PROGRAMS = Path(__file__).parent / "programs"

# --- the draws: u uniform on (0, 1) mapped through the distribution's inverse CDF ----------

# The distributions W&B draws as ppf(u) of a bounded u and sweep as a latent quantile u.
QUANTILE_DRAWN = [
    {"distribution": "beta", "a": 2, "b": 5},
    {"distribution": "beta"},                               # W&B's defaults a = b = 1
    {"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 0.05},
    {"distribution": "q_beta", "a": 3, "b": 2, "q": 1},      # an int q gives ints
    {"distribution": "q_beta", "a": 3, "b": 2},              # W&B's default q 1.0: floats
    {"distribution": "normal", "mu": 5, "sigma": 2},
    {"distribution": "q_normal", "mu": 20, "sigma": 3, "q": 2},
    {"distribution": "log_normal", "mu": -5, "sigma": 1},
    {"distribution": "q_log_normal", "mu": 3, "sigma": 0.5, "q": 0.5},
]
QUANTILES = [1e-6, 0.001, 0.1, 0.25, 0.5, 0.7, 0.9, 0.999, 1 - 1e-6]
WANDB_ENGINE = """
import json, sys
import numpy as np
import sweeps
from sweeps.params import HyperParameter
blocks, quantiles = json.loads(sys.argv[1])
values = [[np.asarray(HyperParameter("x", dict(block)).ppf(u)).item() for u in quantiles]
          for block in blocks]
print(json.dumps({"engine": sweeps.__file__, "values": values}))
"""


@pytest.fixture(scope="module")
def wandb_draws(tmp_path_factory) -> list[list]:
    """W&B's engine's value at each quantile of each block, from a process outside the
    checkout (inside it, `import sweeps` finds our own folder)."""
    needs_wandb_engine()
    done = subprocess.run([sys.executable, "-c", WANDB_ENGINE,
                           json.dumps([QUANTILE_DRAWN, QUANTILES])],
                          cwd=tmp_path_factory.mktemp("outside"), capture_output=True,
                          text=True, timeout=120, check=True)
    found = json.loads(done.stdout)
    assert "site-packages" in found["engine"] and "torchsweep" not in found["engine"]
    return found["values"]


@pytest.mark.parametrize("index", range(len(QUANTILE_DRAWN)),
                         ids=[f"{b['distribution']}-{i}" for i, b in enumerate(QUANTILE_DRAWN)])
def test_a_quantile_drawn_distribution_maps_u_as_wandbs_engine(wandb_draws, index):
    block = QUANTILE_DRAWN[index]
    parameter = parse_parameter("x", block, where="parameters.x", rules=PROGRAM)
    ours = [parameter.suggest(optuna.trial.FixedTrial({"x" + LATENT: u})) for u in QUANTILES]
    theirs = wandb_draws[index]
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert [type(v) for v in ours] == [type(v) for v in theirs]   # int q: ints, as W&B


def test_the_quantile_of_a_beta_is_drawn_uniformly_as_wandbs_engine_draws_it():
    """W&B draws u = random.uniform(0, 1); sweep's sampler draws the latent u, so a random
    sampler's beta(2, 5) values have the beta's mean a / (a + b) and variance."""
    parameter = parse_parameter("x", {"distribution": "beta", "a": 2, "b": 5},
                                where="parameters.x", rules=PROGRAM)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = [parameter.suggest(study.ask()) for _ in range(400)]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    assert mean == pytest.approx(2 / 7, abs=0.02)
    assert variance == pytest.approx(2 * 5 / (7 ** 2 * 8), rel=0.2)   # ab/((a+b)^2 (a+b+1))


# --- the command line: each macro as W&B's agent renders it ---------------------------------

VALUES = {"lr": 0.01, "layers": 2, "verbose": True, "quiet": False, "hidden": [8, 16],
          "label": "a b", "none": None, "nested": {"k": 1.5}}


def wandb_agent_command(words, values, *, program: str, json_file: str) -> list[str]:
    """The command W&B's agent starts: its macro words from W&B's functions, put together as
    `Agent._command_run` does. Where sweep differs on purpose (docs/programs.md: ${interpreter}
    is this Python, not `python`; ${args_json_file} is the trial's own file), that is given here."""
    sweep_vars = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    sweep_vars.update(env=["/usr/bin/env"], interpreter=[sys.executable], program=[program],
                      args_json_file=[json_file])
    command = []
    for word in create_sweep_command(list(words)):      # ${envvar:NAME}, in place
        word = str(word)
        if word.startswith("${") and word.endswith("}"):
            command += sweep_vars.get(word[2:-1]) or []
        else:
            command += [word]
    return command


@pytest.mark.parametrize("words", [[f"${{{macro}}}"] for macro in MACROS] + [
    ["--token=${envvar:SWEEP_TEST_TOKEN}"],
    ["${envvar:SWEEP_TEST_UNSET}"],
    ["${envvar:SWEEP_TEST_TOKEN}:${envvar:SWEEP_TEST_UNSET}/x"],
], ids=lambda words: words[0])
def test_each_macro_renders_as_wandbs_agent_renders_it(monkeypatch, words):
    monkeypatch.setenv("SWEEP_TEST_TOKEN", "t0k")
    monkeypatch.delenv("SWEEP_TEST_UNSET", raising=False)
    where = {"program": "train.py", "json_file": "/trial/sweep-args.json"}
    expected = wandb_agent_command(words, VALUES, **where)
    assert build_command(words, values=VALUES, **where) == expected
    assert expected   # W&B renders every one of these to something


# --- a real program started with every macro, and the ignored keys named once ----------------

IGNORED = {"controller": {"type": "local"}, "job": "team/project/job:v0", "image_uri": "img:1",
           "apiVersion": "v1", "kind": "sweep"}
# The same keys, as named in the note, with the nested ones W&B's schema also defines.
IGNORED_NAMES = [*IGNORED, "metric.impute", "metric.impute_while_running",
                 "early_terminate.strict", "scheduler.source", "scheduler.optimizer",
                 "scheduler.search_space"]
ECHO_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}", "${args_no_hyphens}",
                "${args_no_boolean_flags}", "${args_no_equals}", "${args_append_hydra}",
                "${args_override_hydra}", "${args_json}", "${args_json_file}",
                "--token=${envvar:SWEEP_TEST_TOKEN}", "${envvar:SWEEP_TEST_UNSET}"]
ECHO_VALUES = {"lr": 0.01, "layers": 2, "verbose": True, "quiet": False, "hidden": [8, 16],
               "label": "a b"}


def echo_study(**more) -> dict:
    return {
        "program": "echo_command.py", "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize", "impute": "worst",
                   "impute_while_running": "false"},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "strict": True},
        "scheduler": {"engine": "optuna", "source": "s.py", "optimizer": "o",
                      "search_space": "x"},
        "parameters": {name: {"values": [value]} if isinstance(value, list) else {"value": value}
                       for name, value in ECHO_VALUES.items()},
        "command": ECHO_COMMAND, **IGNORED, **more}


def named_once(output: str) -> None:
    """One note names every ignored key, each once in all the command printed."""
    notes = [line for line in output.splitlines() if "do not apply to local sweeps" in line]
    assert len(notes) == 1, output
    for name in IGNORED_NAMES:
        assert len(re.findall(rf"(?<![\w.]){re.escape(name)}(?![\w.])", output)) == 1, (name,
                                                                                        output)
        assert name in notes[0]


def test_sweep_space_names_each_ignored_key_once(tmp_path):
    study = tmp_path / "echo.yaml"
    study.write_text(json.dumps(echo_study()))   # JSON is YAML
    result = sweep("space", study)
    assert result.exit_code == 0, result.stderr
    named_once(result.stdout + result.stderr)


def test_a_program_study_starts_its_program_with_every_macro_as_wandbs_agent_would(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEP_TEST_TOKEN", "t0k")
    monkeypatch.delenv("SWEEP_TEST_UNSET", raising=False)
    (tmp_path / "echo_command.py").write_text((PROGRAMS / "echo_command.py").read_text())
    (tmp_path / "study.yaml").write_text(json.dumps(echo_study()))
    done = sweep_process("run", "study.yaml", "--root", "runs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    named_once(done.stdout + done.stderr)
    started_file, = (tmp_path / "runs").rglob("started.json")
    started = json.loads(started_file.read_text())
    json_file = started_file.parent / "sweep-args.json"
    expected = wandb_agent_command(ECHO_COMMAND, ECHO_VALUES, program="echo_command.py",
                                   json_file=str(json_file))
    # /usr/bin/env started this Python on the program, with the rest as its arguments.
    assert [started["executable"], *started["argv"]] == expected[1:]
    assert json_file.read_text() == create_sweep_command_args(
        {"args": {k: {"value": v} for k, v in ECHO_VALUES.items()}})["args_json"][0]
    assert started["config"] == ECHO_VALUES   # and wandb.config holds the same values
