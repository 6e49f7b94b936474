"""Sweeps from Python (`import torchsweep as ts`): a notebook run by a real Jupyter kernel, W&B's
own `wandb.sweep`/`wandb.agent` code through ts.sweep/ts.agent, a worker SIGKILLed mid-trial,
and `sweep worker --function` joining a study made in Python. Real processes, storage and
offline W&B files read back with W&B's own reader; the functions are tests/functions.py's."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_helpers import one_line_error, sweep, sweep_process
from wandb_helpers import leet_summary

from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.tracking.local_runs import list_runs

TESTS = Path(__file__).resolve().parent
NOTEBOOK = TESTS.parent / "examples" / "sweep_from_python.ipynb"
SEARCH_PATH = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
STUDY = {"name": "fn", "method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
         "parameters": {"learning_rate": {"min": 0.1, "max": 1.0}, "epochs": {"value": 4}}}


def python(tmp_path: Path, code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`code` as a user's script, run from `tmp_path` (its study under ./runs)."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": SEARCH_PATH, **(env or {})})


def shown(tmp_path: Path, study: str) -> dict:
    done = sweep_process("show", study, "--root", "runs", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_package_names_its_api_lazily_and_imports_no_torch_for_it():
    """`sweep --help` imports the package: the engine (Optuna) comes with the first name used,
    and torch with no name at all."""
    code = ("import sys, torchsweep as ts; engine = 'optuna' in sys.modules; "
            "names = [getattr(ts, name) for name in ts.__all__]; "
            "print(sorted(ts.__all__), engine, 'optuna' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    names = sorted(["Study", "Result", "Trial", "Pruned", "sweep", "agent"])
    assert done.stdout.strip() == f"{names} False True False", done.stderr


def test_the_example_notebook_runs_in_a_jupyter_kernel_and_the_cli_reads_its_study(
        tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SWEEP_ROOT", str(tmp_path / "runs"))   # the kernel inherits these
    monkeypatch.setenv("PYTHONPATH", SEARCH_PATH)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.outputs)
    report = shown(tmp_path, "notebook")
    states = [trial["state"] for trial in report["trials"]]
    assert len(states) == 8 and set(states) <= {"completed", "pruned"}, states
    assert "pruned" in states                       # the median pruner cut the slow learners
    best = min((t for t in report["trials"] if t["state"] == "completed"),
               key=lambda t: t["value"])
    assert f"best: {best['params']} {best['value']}" in printed
    assert (tmp_path / "best" / "params.json").is_file()
    done = sweep_process("report", "notebook", "--root", "runs", "-o", "page.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "val_loss" in (tmp_path / "page.html").read_text()


def test_wandb_quickstart_code_runs_through_ts_agent_and_its_runs_read_back_equal(tmp_path):
    """W&B's own code: wandb.sweep's config, wandb.agent's count, a function that calls
    wandb.init(). From trial 3 on it learns nothing and stalls in its epoch 3 of 8 until it is
    stopped: only the median pruner can end it early."""
    done = python(tmp_path, f"""
        import functions, torchsweep as ts
        config = {{**{STUDY!r}, "name": "quick", "pruner": "median"}}
        config["parameters"] = {{**config["parameters"], "epochs": {{"value": 8}},
                                 "bad_after": {{"value": 3}}, "stall_at": {{"value": 3}}}}
        if __name__ == "__main__":
            sweep_id = ts.sweep(config)
            result = ts.agent(sweep_id, function=functions.quickstart, count=4)
            print([trial.state for trial in result.trials])
        """, env={"WANDB_MODE": "offline"})
    assert done.returncode == 0, done.stderr
    report = shown(tmp_path, "quick")
    assert [t["state"] for t in report["trials"]] == ["completed"] * 3 + ["pruned"]
    runs = {run.trial: run.folder for run in list_runs(tmp_path / "runs", "quick")
            if run.trial is not None}
    for trial in report["trials"]:
        seen = leet_summary(runs[trial["number"]])
        # The trial's value is W&B's own: its run summary's val_loss.
        assert trial["value"] == pytest.approx(seen["summary"]["val_loss"], rel=1e-12)
        assert seen["config"]["learning_rate"] == trial["params"]["learning_rate"]
        assert seen["state"] == "finished"
    stopped = leet_summary(runs[3])
    assert stopped["summary"]["epoch"] < 8                 # stopped, not finished
    assert stopped["summary"]["state"] == "stopped" and "stopped" in stopped["tags"]


def test_a_worker_killed_mid_trial_is_retried_from_its_checkpoint(tmp_path):
    """Two workers; trial 0's first attempt SIGKILLs its own worker right after saving its
    epoch 2. The other worker judges it lost (its heartbeat stops) and runs its retry, which
    loads that checkpoint and trains epochs 3 and 4 only."""
    done = python(tmp_path, f"""
        import functions, torchsweep as ts
        from torchsweep.sweeps.errors import WorkerError
        config = {{**{STUDY!r}, "name": "killed"}}
        config["parameters"] = {{**config["parameters"], "kill_at": {{"value": 2}}}}
        if __name__ == "__main__":
            study = ts.Study(config)
            try:
                study.run(functions.train, trials=2, workers=2, heartbeat=0.5)
            except WorkerError as error:
                print("raised:", error)
        """)
    assert done.returncode == 0, done.stderr
    assert "was killed by SIGKILL; its trial is retried" in done.stdout, done.stdout
    trials = {t["number"]: t for t in shown(tmp_path, "killed")["trials"]}
    retry = next(t for t in trials.values() if t["retry_of"] is not None)
    assert retry["state"] == "completed" and retry["resumed_at"] == 2
    assert retry["params"] == trials[retry["retry_of"]]["params"]
    assert trials[retry["retry_of"]]["reason"] == "lost"


def test_sweep_worker_joins_a_study_made_in_python_through_function(tmp_path):
    """A script's own function (`__main__:train`) cannot be imported elsewhere: `sweep worker`
    says so in one line, and runs the queue with an importable one given by --function."""
    done = python(tmp_path, f"""
        import torchsweep as ts
        from functions import train as imported
        def train(trial):
            return imported(trial)
        if __name__ == "__main__":
            print(ts.Study({STUDY!r}).create(train, trials=3))
        """)
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr
    env = {"PYTHONPATH": SEARCH_PATH}
    one_line_error(sweep("worker", "fn", "--root", tmp_path / "runs"), 2,
                   "function __main__:train was defined in a notebook, a script run as "
                   "__main__ or another function, which no other process can import; move it "
                   "into a module and give --function package.module:function")
    done = sweep_process("worker", "fn", "--root", "runs", "--function", "functions:train",
                         "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ran"] == 3
    assert [t["state"] for t in shown(tmp_path, "fn")["trials"]] == ["completed"] * 3


@pytest.mark.parametrize("args, code, message", [
    (("run", "study.yaml", "--function", "functions"), 2,
     "Invalid value for '--function': expected package.module:function (a module Python can "
     "import, a colon, the function's name), got \"functions\""),
    (("run", "study.yaml", "--function", "nowhere:train"), 2,
     "function nowhere:train: cannot import nowhere (No module named 'nowhere'); run from the "
     "folder that holds it, or put it on PYTHONPATH"),
    (("run", "study.yaml", "--function", "functions:missing"), 2,
     "function functions:missing: functions has no missing"),
    (("run", "study.yaml"), 2,
     "unknown setting 'learning_rate'"),
    (("run", "program.yaml", "--function", "functions:train"), 2,
     "function: functions:train comes with program:; a trial runs one of them: give program: "
     "(a script) or function:"),
])
def test_function_option_refuses_bad_input_in_one_line(tmp_path, monkeypatch, args, code,
                                                       message):
    monkeypatch.chdir(tmp_path)   # tests/ is on sys.path here: `functions` imports
    (tmp_path / "study.yaml").write_text(json.dumps({**STUDY, "name": "fn"}))
    (tmp_path / "program.yaml").write_text(json.dumps({**STUDY, "program": "train.py"}))
    one_line_error(sweep(*args, "--root", "runs"), code, message)
    assert not (tmp_path / "runs").exists()


def test_function_option_is_in_the_help_of_run_create_worker_and_space():
    for command in ("run", "create", "worker", "space"):
        done = sweep(command, "--help", env={"COLUMNS": "200"})
        assert "--function" in done.stdout and "package.module:function" in done.stdout


def test_sweep_run_function_runs_a_file_for_your_own_code(tmp_path):
    (tmp_path / "study.yaml").write_text(json.dumps({**STUDY, "name": "fn"}))
    done = sweep_process("run", "study.yaml", "--function", "functions:train", "--trials", "2",
                         "--root", "runs", "--json", cwd=tmp_path,
                         env={"PYTHONPATH": SEARCH_PATH})
    assert done.returncode == 0, done.stderr
    trials = json.loads(done.stdout)["trials"]
    assert [t["state"] for t in trials] == ["completed"] * 2
    # Each kept trial folder holds its checkpoint, saved through the one owner.
    assert all((tmp_path / "runs" / "fn" / "trials" / f"{t['number']:05d}" / "last.pt").is_file()
               for t in trials)
    # And back: Python opens the study the CLI made, and reads what `sweep show` reads.
    import torchsweep as ts

    result = ts.Study("fn", root=tmp_path / "runs").result()
    assert [(t.number, t.value) for t in result.trials] == [(t["number"], t["value"])
                                                           for t in trials]


def test_in_process_trials_run_in_the_caller_and_a_failing_one_fails_alone(tmp_path):
    import torchsweep as ts

    called = []

    def train(trial):
        called.append(trial.number)   # this list fills only when trials run in this process
        if trial.number == 1:
            raise ValueError("a bug in trial 1")
        trial.report(val_loss=trial.params["learning_rate"], step=0)

    study = ts.Study({**STUDY, "name": "here"}, root=tmp_path, wandb="disabled")
    result = study.run(train, trials=3, in_process=True)
    assert called == [0, 1, 2]
    assert [(t.state, t.reason) for t in result.trials] == [
        ("completed", None), ("failed", "error"), ("completed", None)]
    assert result.best.value == min(t.params["learning_rate"] for t in result.trials
                                    if t.state == "completed")
    with pytest.raises(StudyError, match="in_process runs one worker"):
        study.run(train, trials=1, workers=2, in_process=True)


def test_a_study_without_a_function_runs_the_trainer_as_sweep_run_does(tmp_path):
    import torchsweep as ts

    config = {"name": "tiny", "method": "random",
              "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0.01,
                                    "max": 0.2},
                             "epochs": {"value": 1}, "model": {"value": "mlp"},
                             "width": {"value": 8}}}
    result = ts.Study(config, root=tmp_path, wandb="disabled").run(trials=1)
    assert result.best.number == 0 and 0 <= result.best.value <= 1   # val_acc
    assert result.export(tmp_path / "best").weights.endswith("model.safetensors")
