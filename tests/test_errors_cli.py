"""Every documented way to get it wrong, through the real `sweep` command: one line that says
what to fix, the exit code docs/errors.md lists, no traceback, and nothing written or lost."""
from __future__ import annotations

import errno
import json
import pickle
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from cli_helpers import (
    metrics_lines,
    one_line_error,
    stopped_run,
    sweep,
    sweep_json,
    sweep_process,
    without_timing,
)
from needs import needs
from optuna.trial import TrialState
from worker_helpers import in_state, trials

from torchsweep.cli import app as cli_app
from torchsweep.sweeps import attrs
from torchsweep.trainer.checkpoint import load_checkpoint, save_atomic
from torchsweep.trainer.files import BEST, EXPORT_WEIGHTS, LAST

BROKEN_STUDIES = Path(__file__).parent / "broken_studies"
QUIET = ("--wandb", "disabled")
SMALL = ("--set", "batch_size=256", "--set", "width=8")  # a small model, few batches: fast


# --- 1. study files, --param and --set: exit 2, and nothing written ------------------------

def promised(path: Path) -> list[str]:
    """What a broken study's first line promises its error says: `# expect: a ... b`."""
    return path.read_text().splitlines()[0].removeprefix("# expect: ").split(" ... ")


@pytest.mark.parametrize("path", sorted(BROKEN_STUDIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_broken_study_file_gets_one_line_and_writes_nothing(tmp_path, path):
    root, database = tmp_path / "root", tmp_path / "studies.db"
    result = sweep("run", path, "--root", root, "--storage", f"sqlite:///{database}", *QUIET)
    one_line_error(result, 2, f"error: {path}: ", *promised(path))
    assert not root.exists() and not database.exists()


@pytest.mark.parametrize("args, message", [
    (["-p", "lr=0.1..0.01"], "error: --param lr.min: 0.1 is not below max 0.01"),
    (["-p", "lr=log:0..0.1"], "error: --param lr.min: 0 is not positive; log-scale bounds must"),
    (["-p", "lr=0.01..0.1:0"], "error: --param lr.q: 0 is not positive; q must be > 0"),
    (["-p", "optimizer=sgd,lamb"], "error: --param optimizer.values[1]: expected one of sgd, "
                                   "adam, adamw, rmsprop, rprop, got 'lamb'"),
    (["-p", "epoch=3"], "error: --param epoch: unknown setting 'epoch'; did you mean 'epochs'?"),
    (["-p", "lr"], 'error: --param "lr": expected NAME=SPEC with SPEC one of'),
    (["-p", "batch_size=16..4096"], "error: command line: --param batch_size.max: 4096 is larger "
                                    "than the digits training split (1437 samples"),
    (["-p", "optimizer=sgd,rprop", "--set", "scheduler=onecycle"],
     "error: command line: --param optimizer.values[1]: rprop cannot work with the study's "
     "other settings (scheduler: onecycle cycles momentum, which rprop has not"),
    (["-p", "optimizer=rprop", "--set", "scheduler=onecycle"],
     "error: command line: --set scheduler: onecycle cycles momentum, which rprop has not"),
    (["-p", "lr=0.01..0.1", "--set", "epochs=zero"],
     "error: --set epochs: expected an integer >= 1 epochs, got 'zero'"),
    (["-p", "lr=0.01..0.1", "--set", "epochs"], 'error: --set "epochs": expected NAME=VALUE'),
    (["-p", "lr=abc"], "error: --param lr.value: expected a number > 0, got 'abc'"),
    (["-p", "lr=0.01..0.1", "--set", "optimzer=sgd"],
     "error: --set optimzer: unknown setting 'optimzer'; did you mean 'optimizer'?"),
    (["-p", "lr=0.01..0.1", "--set", "evaluations_per_epoch=0"],
     "error: --set evaluations_per_epoch: expected an integer >= 1 evaluations, got 0"),
    (["-p", "lr=0.01..0.1", "--device", "tpu"],
     "error: device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
    # Brackets in what a user typed are text, not markup for the terminal.
    (["-p", "optimizer=[/x]"], "error: --param optimizer.value: expected one of sgd, adam, "
                               "adamw, rmsprop, rprop, got '[/x]'"),
    (["-p", "optimizer=[bold]"], "got '[bold]'"),
])
def test_a_broken_command_line_study_gets_one_line_and_writes_nothing(tmp_path, args, message):
    result = sweep("run", "cli_study", *args, "--root", tmp_path / "root", *QUIET)
    one_line_error(result, 2, message)
    assert not (tmp_path / "root").exists()


GRAMMAR = ("expected NAME=SPEC with SPEC one of: a,b,c (choices) | LOW..HIGH (uniform) | "
           "LOW..HIGH:STEP (q_uniform) | log:LOW..HIGH[:STEP] (log-uniform) | VALUE (fixed)")


@pytest.mark.parametrize("spec", [
    "lr=log:1e-4...1e-1",     # three dots: was read as 1e-4..0.01 (.1e-1)
    "lr=0.01...0.1",
    "lr=..0.1",               # a missing bound
    "lr=log:1e-4..",
    "lr=0.01..0.1x",          # trailing text
    "lr=log:1e-4..1e-1:",
    "lr=0.01 ..0.1",
])
def test_a_range_that_only_looks_right_is_refused_by_space_and_run(tmp_path, spec):
    for command in (["space"], ["run", *QUIET]):
        result = sweep(*command, "cli_study", "-p", spec, "--root", tmp_path / "root")
        assert one_line_error(result, 2) == f'error: --param "{spec}": {GRAMMAR}'
    assert not (tmp_path / "root").exists()


def test_a_program_value_with_two_dots_is_a_value_not_a_range(tmp_path):
    study = tmp_path / "program.yaml"
    study.write_text("program: train.py\nmethod: random\nmetric: {name: loss, goal: minimize}\n"
                     "parameters:\n  lr: {values: [0.1, 0.2]}\n")
    space = sweep_json("space", study, "-p", "data=../data")
    assert space["parameters"]["data"] == {"distribution": "constant", "value": "../data"}
    refused = sweep("space", study, "-p", "lr=..0.5")
    assert one_line_error(refused, 2) == f'error: --param "lr=..0.5": {GRAMMAR}'


@pytest.mark.parametrize("parameters", [
    # each value works with some value of another parameter: some trials can run it
    "{epochs: {values: [20, 30]}, warmup_epochs: {values: [0, 12]}}",
    "{optimizer: {values: [sgd, rprop]}, scheduler: {values: [cosine, onecycle]}}",
    "{batch_size: {min: 16, max: 1700}, val_fraction: {values: [0.2, 0.05]}}",
    # conditional: nesterov only with sgd, so adam never meets it
    "{optimizer: {values: [sgd, adam]}, nesterov: {value: true, when: {optimizer: [sgd]}}}",
])
def test_a_space_with_some_runnable_combinations_is_not_refused(tmp_path, parameters):
    study = tmp_path / "mixed.yaml"
    study.write_text(f"method: random\nparameters: {parameters}\n")
    result = sweep("space", study, "--root", tmp_path / "root")
    assert result.exit_code == 0, result.stderr


# --- 2. options: Typer's usage errors, exit 2 ---------------------------------------------

@pytest.mark.parametrize("command, option, value", [
    ("run", "--trials", "0"), ("run", "--trials", "many"), ("run", "--keep-top-k", "0"),
    ("run", "--timeout", "0"), ("run", "--timeout", "-5"), ("run", "--max-failures", "0"),
    ("run", "--seed", "-1"), ("run", "--workers", "0"), ("run", "--max-retries", "-1"),
    ("run", "--heartbeat", "0"), ("run", "--sampler", "annealing"), ("run", "--pruner", "asha"),
    ("run", "--wandb", "cloud"), ("dashboard", "--port", "65536"), ("dashboard", "--port", "-1"),
    ("sync", "--timeout", "0"),
])
def test_an_invalid_option_is_a_usage_error(tmp_path, command, option, value):
    result = sweep(command, "batchsize_study", option, value, "--root", tmp_path / "root")
    one_line_error(result, 2, f"error: Invalid value for '{option}", "see `")
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("args, message", [
    (["--gpus", "0,a"], "'--gpus': 'a' is not a GPU index or UUID; expected e.g. 0,1"),
    (["--gpus", "0", "--workers", "2"],
     "'--workers': with --gpus there is one worker per GPU; use --workers-per-gpu to run more"),
    (["--workers-per-gpu", "2"], "'--workers-per-gpu': needs --gpus"),
    (["--retry-failed", "--restart-failed"],
     "'--restart-failed': give one of --retry-failed and --restart-failed"),
])
def test_worker_options_that_cannot_work_are_usage_errors(tmp_path, args, message):
    result = sweep("run", "x", "--param", "lr=0.01..0.1", *args, "--root", tmp_path / "root",
                   *QUIET)
    line = one_line_error(result, 2)
    assert line == f"error: Invalid value for {message}; see `sweep run --help`"
    assert not (tmp_path / "root").exists()


# --- 3. environment faults: a distinct exit code, never a silent fresh start ---------------

NO_STUDIES = ("error: no studies yet: {root}/optuna.journal does not exist (run `sweep run "
              "STUDY` first)")


@pytest.mark.parametrize("args, code, message", [
    (["run", "no_such_study"], 3,
     "error: unknown study 'no_such_study': not a bundled study (batchsize_study, full_study, "
     "label_smoothing_study, lr_schedule_study, optimizer_study), not a YAML file, and not run "
     "under {root}; define it with --param NAME=SPEC"),
    (["run", "batchsize_stduy"], 3,
     "error: unknown study 'batchsize_stduy': not a bundled study (batchsize_study, full_study, "
     "label_smoothing_study, lr_schedule_study, optimizer_study), not a YAML file, and not run "
     "under {root}; define it with --param NAME=SPEC; did you mean 'batchsize_study'?"),
    (["run", "missing.yaml"], 3, "error: study file missing.yaml does not exist"),
    (["show", "ghost"], 4, NO_STUDIES),
    (["best", "ghost"], 4, NO_STUDIES),
    (["best", "ghost", "--storage", "sqlite:///missing.db"], 4,
     "error: no studies yet: missing.db does not exist (run `sweep run STUDY --storage "
     "sqlite:///missing.db` first)"),
])
def test_what_is_not_there_is_named(tmp_path, args, code, message):
    root = tmp_path / "root"
    assert one_line_error(sweep(*args, "--root", root), code) == message.format(root=root)
    assert not root.exists() and not Path("missing.db").exists()


@pytest.mark.parametrize("dataset, message", [
    ("mnist", "error: mnist: dataset files missing or corrupt in "),
    ("imagefolder:{data}/no_images", "error: imagefolder: "),
])
def test_a_dataset_that_cannot_load_is_one_line_and_exit_code_6(tmp_path, dataset, message):
    data = tmp_path / "data"
    result = sweep("train", "--set", f"dataset={dataset.format(data=data)}", "--set",
                   f"data_dir={data}", "--out", tmp_path / "run")
    one_line_error(result, 6, message)
    assert not (tmp_path / "run").exists()


PASSWORD = "hunter2"


@pytest.mark.parametrize("storage, parts", [
    ("postgres:/localhost/db", ["malformed storage URL postgres:/localhost/db: expected "
                                "SCHEME://"]),
    ("foo://bar", ["cannot open storage foo://bar: unknown scheme 'foo'"]),
    (f"postgresql+psycopg2://u:{PASSWORD}@host:notaport/db", ["malformed URL"]),
    (f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:1/test",
     ["postgresql+psycopg2://postgres:***@127.0.0.1:1/test", "Connection refused"]),
    (f"postgresql+nosuchdriver://postgres:{PASSWORD}@127.0.0.1/test", ["unknown scheme"]),
])
@pytest.mark.parametrize("command", ["show", "run"])
def test_a_storage_that_cannot_be_opened(tmp_path, storage, parts, command):
    """`run` waits --storage-grace for a storage that does not answer (1 s here); `show`, which
    only looks, waits LOOK_GRACE (10 s) and names no worker's option."""
    args = ["--param", "lr=0.01..0.1", "--storage-grace", "1", *QUIET] if command == "run" \
        else []
    result = sweep(command, "some_study", *args, "--storage", storage, "--root", tmp_path / "root")
    then = {"run": "gave up after --storage-grace 1;", "show": "try again once it answers"}
    line = one_line_error(result, 4, *parts, *([then[command]] if "refused" in parts[-1] else []))
    assert PASSWORD not in line
    assert not (tmp_path / "root").exists()


def test_a_missing_database_driver_is_named(monkeypatch):
    for driver in ("psycopg", "psycopg2"):  # as if neither PostgreSQL driver were installed
        monkeypatch.setitem(sys.modules, driver, None)
    result = sweep("show", "x", "--storage", f"postgresql://u:{PASSWORD}@127.0.0.1/test")
    line = one_line_error(result, 4, "its database driver is not installed (no module named "
                                     "'psycopg')", "postgresql://u:***@127.0.0.1/test")
    assert PASSWORD not in line


@pytest.mark.parametrize("content, problem", [
    (b"garbage{{{\n", "its last line is not a JSON log entry"),
    (b'[1, 2]\n', "its last line is not a JSON log entry"),
    (b'{"op_code": 0, "worker_id": "w"}\n', "Optuna cannot replay it: KeyError"),
    (b'not json\n{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\n',
     "Optuna cannot replay it: JSONDecodeError"),
])
def test_a_corrupt_journal_is_refused_and_left_alone(tmp_path, content, problem):
    journal = tmp_path / "optuna.journal"
    journal.write_bytes(content)
    for command in (["show", "x"], ["list"], ["run", "x", "--param", "lr=0.01..0.1", *QUIET]):
        one_line_error(sweep(*command, "--root", tmp_path), 4,
                       f"error: storage {journal} is corrupt ({problem}", "move it aside")
    assert journal.read_bytes() == content
    assert list(tmp_path.iterdir()) == [journal]


def test_a_corrupt_sqlite_file_is_refused_and_left_alone(tmp_path):
    database = tmp_path / "studies.db"
    database.write_bytes(b"this is not a database\n" * 100)
    for command in (["show", "x"], ["run", "x", "--param", "lr=0.01..0.1", *QUIET]):
        result = sweep(*command, "--storage", f"sqlite:///{database}", "--root", tmp_path / "r")
        one_line_error(result, 4, "file is not a database")
    assert database.read_bytes() == b"this is not a database\n" * 100


@pytest.mark.parametrize("revision, message", [
    ("v2.6.0.a", "its tables were written by Optuna 2.10.0, an older schema; upgrade them with "
                 "`optuna storage upgrade --storage sqlite:///"),
    ("v99.0.0.a", "its tables were written by a newer Optuna; upgrade this one"),
])
def test_a_storage_of_another_optuna_schema_says_how_to_upgrade(tmp_path, revision, message):
    import optuna

    url = f"sqlite:///{tmp_path / 'old.db'}"
    optuna.storages.RDBStorage(url).engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as database:
        database.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        database.execute("UPDATE version_info SET library_version = '2.10.0'")
    database.close()
    one_line_error(sweep("show", "x", "--storage", url), 4, message)


# A study with two completed trials, both checkpoints kept; tests work on copies of it.
@pytest.fixture(scope="module")
def study_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    result = sweep("run", "kept", "-p", "lr=log:0.01..0.2", "--trials", "2", "--set",
                   "epochs=1", *SMALL, "--keep-top-k", "2", "--pruner", "none", "--sampler",
                   "random", "--root", root, *QUIET, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["kept_checkpoints"]) == 2
    return root


def kept_best_first(root: Path) -> list[tuple[int, Path]]:
    """(trial number, checkpoint path) of the kept trials, best first."""
    shown = json.loads(sweep("show", "kept", "--root", root, "--json").stdout)["trials"]
    best_first = sorted(shown, key=lambda t: -t["value"])
    return [(t["number"], root / t["checkpoint"]) for t in best_first]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


class Payload:
    """Unpickling this calls open(marker, 'w'): the file appears if the payload ever runs."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_payload(path: Path, marker: Path, writer: str) -> None:
    hostile = {"format_version": 1, "epoch": 1, "model": Payload(marker)}
    if writer == "torch":
        torch.save(hostile, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(hostile, file)


@pytest.fixture
def study_copy(study_root, tmp_path) -> Path:
    return Path(shutil.copytree(study_root, tmp_path / "root"))


def test_export_passes_over_a_truncated_best_checkpoint(study_copy, tmp_path):
    (best, best_path), (second, _) = kept_best_first(study_copy)
    truncate(best_path)
    result = sweep("best", "kept", "--root", study_copy, "--export", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    [note] = result.stderr.strip().splitlines()
    assert note.startswith(f"note: exported trial {second}, the best whose checkpoint loads; "
                           f"passed over trial {best} (the best): cannot load checkpoint "
                           f"{best_path}: the file is truncated or not a checkpoint (")
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["trial"] == second


def test_export_as_json_is_one_object_naming_what_it_passed_over(study_copy, tmp_path):
    (best, best_path), (second, _) = kept_best_first(study_copy)
    truncate(best_path)
    out = tmp_path / "out"
    result = sweep("best", "kept", "--root", study_copy, "--export", out, "--json")
    assert result.exit_code == 0, result.stderr
    export = json.loads(result.stdout)["export"]
    [passed_over] = export.pop("passed_over")
    assert passed_over.startswith(f"trial {best} (the best): cannot load checkpoint {best_path}")
    assert "passed over" not in result.stderr          # the object says it, not a note
    picture, picture_note = export.pop("picture"), export.pop("picture_note")
    assert (picture is None) != (picture_note is None)   # drawn, or why not (no Graphviz)
    assert export.pop("files") == sorted(path.name for path in out.iterdir())
    assert export == {"directory": str(out), "weights": str(out / EXPORT_WEIGHTS),
                      "trial": second, "confirmation": None, "saved_by_program": None,
                      "value": json.loads((out / "metrics.json").read_text())["value"]}


def test_export_with_no_valid_checkpoint_says_so(study_copy, tmp_path):
    (best, best_path), (second, second_path) = kept_best_first(study_copy)
    truncate(best_path)
    second_path.unlink()
    result = sweep("best", "kept", "--root", study_copy, "--export", tmp_path / "out")
    one_line_error(result, 5, f"error: nothing to export from 'kept', no trial has a valid "
                              f"checkpoint: trial {best} (the best): cannot load checkpoint",
                   f"; trial {second}: its checkpoint is missing under {study_copy}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_export_refuses_a_checkpoint_carrying_code(study_copy, tmp_path, writer):
    marker = tmp_path / "payload-ran"
    for _, path in kept_best_first(study_copy):
        plant_payload(path, marker, writer)
    result = sweep("best", "kept", "--root", study_copy, "--export", tmp_path / "out")
    one_line_error(result, 5, "refused as unsafe")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_export_is_safetensors_with_wrapper_prefixes_stripped(study_copy, tmp_path):
    from safetensors import safe_open

    (_, best_path), _ = kept_best_first(study_copy)
    state = load_checkpoint(best_path)
    plain = list(state["model"])
    # as torch.compile (_orig_mod.) and DataParallel/DDP (module.) would have saved them
    state["model"] = {f"{('_orig_mod.', 'module.', 'module._orig_mod.')[i % 3]}{key}": value
                      for i, (key, value) in enumerate(state["model"].items())}
    save_atomic(state, best_path)
    result = sweep("best", "kept", "--root", study_copy, "--export", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    weights = tmp_path / "out" / EXPORT_WEIGHTS
    assert weights.read_bytes()[:2] not in (b"PK", b"\x80\x02")  # neither torch zip nor pickle
    with safe_open(str(weights), framework="pt") as file:
        assert sorted(file.keys()) == sorted(plain)


# A finished 2-epoch training run; tests work on copies of it.
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    result = sweep("train", "--set", "epochs=2", *SMALL, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def test_resume_from_a_truncated_last_checkpoint_falls_back_to_best_and_trains_on(tmp_path):
    run = tmp_path / "run"
    before = stopped_run(run, epochs=3, after=2, monitor="steps")   # last.pt 2, best.pt 1
    best_epoch = load_checkpoint(run / BEST)["epoch"]
    assert best_epoch == 1
    truncate(run / LAST)
    result = sweep("train", "--set", "epochs=3", *SMALL, "--set", "model=mlp", "--resume",
                   run / LAST, "--out", run, "--json")
    assert result.exit_code == 0, result.stderr
    [note] = result.stderr.strip().splitlines()
    assert note.startswith(f"note: cannot load checkpoint {run / LAST}: the file is "
                           f"truncated or not a checkpoint (")
    assert note.endswith(f"; resuming from {run / BEST} (epoch {best_epoch}) instead")
    assert json.loads(result.stdout)["epochs_run"] == 3
    # Resumed: the epochs up to best.pt's are the stopped run's own lines (their timing too),
    # and the rest were trained now, up to a last.pt of epoch 3: epoch 2 again, from best.pt's
    # exact state, so to the same values in its own time.
    after = metrics_lines(run)
    assert [m["epoch"] for m in after] == [1, 2, 3]
    assert after[:best_epoch] == before[:best_epoch]
    retrained, stale = after[best_epoch], before[best_epoch]
    assert retrained["wall_seconds"] != stale["wall_seconds"]
    assert without_timing([retrained]) == without_timing([stale])
    assert load_checkpoint(run / LAST)["epoch"] == 3


def test_resume_with_no_valid_checkpoint_says_so_and_starts_nothing(run_copy):
    truncate(run_copy / LAST)
    (run_copy / BEST).unlink()
    before = {path.name: path.read_bytes() for path in run_copy.iterdir()}
    result = sweep("train", "--set", "epochs=2", *SMALL, "--resume", run_copy / LAST, "--out",
                   run_copy)
    one_line_error(result, 5, f"error: cannot load checkpoint {run_copy / LAST}: the file is "
                              f"truncated", f"; no valid last.pt or best.pt in {run_copy} to "
                                            f"resume from either")
    assert {path.name: path.read_bytes() for path in run_copy.iterdir()} == before


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_resume_refuses_a_checkpoint_carrying_code(tmp_path, monkeypatch, writer):
    marker, hostile = tmp_path / "payload-ran", tmp_path / "run" / LAST
    hostile.parent.mkdir()
    plant_payload(hostile, marker, writer)
    loads, real_load = [], torch.load

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    result = sweep("train", "--resume", hostile, "--out", tmp_path / "run")
    one_line_error(result, 5, f"error: cannot load checkpoint {hostile}: ", "refused as unsafe")
    assert not marker.exists()
    assert all(weights_only is True for weights_only in loads)  # never retried unsafely
    if writer == "torch":
        assert loads == []  # refused from the names it refers to, before any unpickling


def test_a_raw_pickle_is_refused_in_one_line_by_a_real_sweep_process(tmp_path):
    """What a user sees: torch warns about a pickle it did not write before refusing it; that
    warning must not precede the one line."""
    marker, hostile = tmp_path / "payload-ran", tmp_path / "run" / LAST
    hostile.parent.mkdir()
    plant_payload(hostile, marker, "pickle")
    result = sweep_process("train", "--resume", hostile, "--out", tmp_path / "run")
    one_line_error(result, 5, f"error: cannot load checkpoint {hostile}: ", "refused as unsafe")
    assert not marker.exists()


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save

    def disk_fills_at_epoch_2(payload, file, *args, **kwargs):
        if payload["epoch"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(payload, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_fills_at_epoch_2)
    out = tmp_path / "run"
    result = sweep("train", "--set", "epochs=3", *SMALL, "--out", out)
    one_line_error(result, 7, f"error: could not write {out / LAST}: No space left on device; "
                              f"the previous last.pt, if any, is unchanged")
    assert load_checkpoint(out / LAST)["epoch"] == 1
    assert not list(out.glob(".*.tmp"))


@contextmanager
def tmpfs(folder: Path, options: str):
    """A real tmpfs mounted on `folder` for the duration: a disk that is full or read-only as
    the kernel says it. Mounting needs root (CI runs as root); where it cannot be had the test
    fails on CI and skips elsewhere (tests/needs.py). Of these tests only the full disk during
    `sweep train` has a monkeypatched twin that runs everywhere
    (test_a_full_disk_keeps_the_previous_checkpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder],
                             capture_output=True, text=True) if shutil.which("mount") else None
    needs(mounted is not None and mounted.returncode == 0,
          f"a tmpfs mounted on {folder} (root and mount(8); "
          f"{mounted.stderr.strip() if mounted else 'no mount command'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", folder], check=True)


@pytest.fixture
def small_disk(tmp_path, trained):
    """A tmpfs that holds one epoch's last.pt and best.pt but not a third checkpoint."""
    size_kib = int((trained / LAST).stat().st_size * 2.5) // 1024
    with tmpfs(tmp_path / "disk", f"size={size_kib}k") as disk:
        yield disk


def test_a_really_full_disk_keeps_the_previous_checkpoint(small_disk):
    result = sweep("train", "--set", "epochs=3", *SMALL, "--out", small_disk / "run")
    one_line_error(result, 7, "error: could not write ", "No space left on device")
    assert load_checkpoint(small_disk / "run" / LAST)["epoch"] == 1
    assert not list((small_disk / "run").glob(".*.tmp"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_stops_the_sweep_and_keeps_its_trials_to_resume(small_disk, workers):
    """Every next trial would fail alike: the sweep stops at once (exit 7), and the trials the
    disk stopped are failed as cannot_write and queued to resume once there is room. (The
    storage is on another disk here; on the full one, a trial it cannot record stays RUNNING
    until the next run finds its heartbeat stale and retries it.)"""
    root, storage = small_disk / "runs", small_disk.parent / "optuna.journal"
    result = sweep("run", "full", "--param", "lr=log:0.01..0.1", "--set", "epochs=3", *SMALL,
                   "--sampler", "random", "--pruner", "none", "--trials", "4",
                   "--workers", workers, "--wandb", "disabled", "--root", root,
                   "--storage", storage)
    one_line_error(result, 7, "error: could not write ", "No space left on device")
    found = trials("full", root, str(storage))
    stopped = in_state(found, TrialState.FAIL)
    assert stopped and all(t.user_attrs["reason"] == "cannot_write" for t in stopped)
    assert not in_state(found, TrialState.RUNNING, TrialState.COMPLETE)
    retried = {attrs.retry_of(t) for t in in_state(found, TrialState.WAITING) if attrs.is_retry(t)}
    assert retried == {t.number for t in stopped}
    assert not list(root.rglob("*.tmp"))


def test_training_into_a_read_only_folder_is_one_line_and_exit_code_7(tmp_path):
    with tmpfs(tmp_path / "read-only", "ro,size=64k") as folder:
        result = sweep("train", "--set", "epochs=1", *SMALL, "--out", folder / "run")
        one_line_error(result, 7, f"error: cannot write {folder / 'run'}: Read-only file system")
        assert list(folder.iterdir()) == []


def test_a_read_only_trials_folder_stops_the_sweep_and_keeps_its_trial_to_resume(tmp_path):
    """The study's folder is writable, its trials/ folder is not: the first trial cannot write
    and every next one would fail alike, so the sweep stops at once (exit 7) and the trial is
    queued to resume once the folder is writable again."""
    root = tmp_path / "runs"
    with tmpfs(root / "ro_study" / "trials", "ro,size=64k"):
        result = sweep("run", "ro_study", "--param", "lr=log:0.01..0.1", "--set", "epochs=1",
                       *SMALL, "--trials", "3", "--root", root, *QUIET)
        one_line_error(result, 7, "Read-only file system")
    found = trials("ro_study", root)
    assert [(t.number, t.state, attrs.reason(t)) for t in in_state(found, TrialState.FAIL)] == \
        [(0, TrialState.FAIL, "cannot_write")]
    assert not in_state(found, TrialState.RUNNING, TrialState.COMPLETE)
    retry = [t for t in in_state(found, TrialState.WAITING) if attrs.is_retry(t)]
    assert [attrs.retry_of(t) for t in retry] == [0]
    report = sweep_json("run", "ro_study", "--root", root, *QUIET)   # writable again: resumes
    assert report["ran"] == 3 and {t["state"] for t in report["trials"]} >= {"completed"}


# --- 4. torch older than 2.6 is refused at start ------------------------------------------

@pytest.mark.parametrize("version, usable", [
    ("2.6.0", True), ("2.6.0a0+git1a2b3c", True), ("2.14.1+cu130", True), ("3.0", True),
    ("2.5.1", False), ("2.5.1+cu121", False), ("1.13.1", False), ("garbled", False),
    (None, False),
])
def test_the_torch_version_check(version, usable):
    assert (cli_app.torch_problem(version) is None) == usable


@pytest.mark.parametrize("command", [["list"], ["train", "--set", "epochs=1"],
                                     ["run", "batchsize_study"]])
def test_old_torch_is_refused_before_any_command_runs(tmp_path, monkeypatch, command):
    monkeypatch.setattr(cli_app, "_installed_torch", lambda: "2.5.1")
    result = sweep(*command, "--root" if command[0] != "train" else "--out", tmp_path / "out")
    one_line_error(result, cli_app.OLD_TORCH_EXIT, "error: torch 2.5.1 is too old",
                   "CVE-2025-32434", "pip install -U 'torch>=2.6'")
    assert not (tmp_path / "out").exists()
