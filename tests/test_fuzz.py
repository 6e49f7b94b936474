"""Fuzzing the boundaries a user types into: study files and `--param`/`--set`, through the CLI.

Whatever the input, `sweep space` either prints a valid space (exit 0) or one line naming the
problem (exit 2); an unexpected exception would escape the in-process CLI and fail the test.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from cli_helpers import one_line_error, sweep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchsweep.sweeps.study import DISTRIBUTIONS
from torchsweep.trainer.config import FIELDS

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_or_one_line(result, where: str) -> None:
    assert result.exit_code in (0, 2), result.stdout + result.stderr
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {where}"), result.stderr
    else:
        assert "error:" not in result.stderr


@pytest.fixture(scope="module")
def study_file():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "fuzz.yaml"


def space_of(path: Path, content: bytes):
    path.write_bytes(content)
    return sweep("space", path, "--root", path.parent / "root")


# --- study files ---------------------------------------------------------------------------

# Fragments of sweep files, so that random text gets past the YAML parser often enough to
# reach the validation behind it.
FRAGMENTS = ["method:", " bayes", " grid", "\n", "parameters:", "\n  lr:", "\n  batch_size:",
             "\n    ", " {", "}", "[", "]", ", ", "min: ", "max: ", "values: ", "value: ", "- ",
             "q: ", "distribution: ", "log_uniform_values", "q_uniform", "0.1", "1e-4", "-1",
             "0", "64", "4096", "&a ", "*a", "<<: *a", "'", '"', "\t", ": ", "# c", "~", "null",
             "true", ".inf", ".nan", "0x1F", "1_000", "when: ", "optimizer", "sgd", "rprop",
             "scheduler", "onecycle", "metric:", "name: ", "val_acc", "sampler: ", "!!str ",
             "!!python/object/apply:os.system ", "\u00e9", "\x00", "? "]
yaml_like = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats()
           | st.text(max_size=8) | st.sampled_from(["sgd", "adam", "rprop", "cosine",
                                                     "onecycle", "digits", "cnn"]))
numbers = st.integers(-4, 5000) | st.floats(-1, 5000, allow_nan=False)
blocks = st.fixed_dictionaries({}, optional={
    "distribution": st.sampled_from(DISTRIBUTIONS) | st.text(max_size=6),
    "min": numbers | scalars, "max": numbers | scalars, "q": numbers, "mu": numbers,
    "sigma": numbers, "value": scalars, "values": st.lists(scalars, max_size=4),
    "probabilities": st.lists(st.sampled_from([0, 0.25, 0.5, 1, -1]), max_size=4),
    "when": st.dictionaries(st.sampled_from(sorted(FIELDS)), scalars | st.lists(scalars),
                            max_size=2)})
documents = st.fixed_dictionaries(
    {"method": st.sampled_from(["bayes", "random", "grid"]) | scalars,
     "parameters": st.dictionaries(st.sampled_from(sorted(FIELDS)), blocks, max_size=4)},
    optional={"metric": st.fixed_dictionaries({"name": st.sampled_from(["val_acc", "acc"])},
                                              optional={"goal": scalars}),
              "sampler": scalars, "pruner": scalars, "run_cap": scalars, "trials": scalars,
              "early_terminate": st.dictionaries(st.sampled_from(["type", "min_iter", "eta",
                                                                  "max_iter", "s"]), scalars)})


@FUZZ
@given(st.binary(max_size=200) | yaml_like.map(str.encode))
def test_any_file_is_a_valid_space_or_one_line(study_file, content):
    valid_or_one_line(space_of(study_file, content), f"{study_file}:")


@FUZZ
@given(documents)
def test_any_sweep_document_is_a_valid_space_or_one_line(study_file, document):
    content = yaml.safe_dump(document, allow_unicode=True).encode()
    valid_or_one_line(space_of(study_file, content), f"{study_file}:")


def alias_bomb(levels: int = 9) -> str:
    """The billion laughs, under W&B's `job` key (accepted, never read): each level lists the
    one before nine times, so `*l8` stands for 9**9 strings."""
    lines = ["job:", '  - &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content, message", [
    pytest.param("[" * 5000, "malformed YAML: nested too deeply", id="deep-nesting"),
    pytest.param(alias_bomb() + "method: *l8\nparameters: {}\n",
                 "method: expected bayes, random, grid or custom", id="alias-bomb-as-a-word"),
    pytest.param(alias_bomb() + "method: random\nparameters: {optimizer: {values: *l8}}\n",
                 "parameters.optimizer.values[0]: expected one of sgd", id="alias-bomb-as-values"),
    pytest.param("method: &m [*m]\nparameters: {}\n",
                 "method: expected bayes, random, grid or custom, got [[[...]]]", id="self-reference"),
    pytest.param("method: random\nparameters: {lr: {value: !!python/object/apply:os.system "
                 "[touch pwned]}}\n", "malformed YAML: could not determine a constructor",
                 id="python-tag"),
    pytest.param("method: random\nrun_cap: " + "9" * 5000 + "\nparameters: {}\n",
                 "unreadable value", id="huge-integer"),
    pytest.param("method: random\nparameters: {lr: {min: 1e400, max: 1}}\n",
                 "parameters.lr.min: expected a number within floating-point", id="overflow"),
    pytest.param("\ufeffmethod: random\nparameters: {lr: {min: 0.1, max: 0.01}}\n",
                 "parameters.lr.min: 0.1 is not below max", id="byte-order-mark"),
    pytest.param("method: random\n\tparameters: {}\n", "malformed YAML: found character '\\t'",
                 id="tab"),
    pytest.param("", "top level: expected a mapping", id="empty"),
])
def test_hostile_study_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "hostile.yaml"
    result = space_of(path, content.encode())
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {path}:") and message in result.stderr
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()


def test_a_file_that_is_not_text_gets_one_line(tmp_path):
    result = space_of(tmp_path / "binary.yaml", b"\xff\xfe\x00garbage")
    one_line_error(result, 2, "cannot read the study file")


# --- --param and --set ---------------------------------------------------------------------

grammar = st.text(alphabet="0123456789.,:-+elog truefalsgdam", max_size=16)
param_texts = st.text(max_size=30) | st.builds("{}={}".format, st.sampled_from(sorted(FIELDS)),
                                               grammar)


@FUZZ
@given(param_texts)
def test_any_param_option_is_a_valid_space_or_one_line(text):
    valid_or_one_line(sweep("space", "fuzz", f"--param={text}", "--root", "never-written"), "")


@FUZZ
@given(param_texts)
def test_any_set_option_is_a_valid_space_or_one_line(text):
    valid_or_one_line(sweep("space", "batchsize_study", f"--set={text}", "--root",
                            "never-written"), "")
