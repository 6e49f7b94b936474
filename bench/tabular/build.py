"""Build the tabular benchmark's tables with `sweep run` itself: each task's grid study on the
embedded journal with two workers, at the lowest priority, then its curves extracted into
bench/tabular/tables/<task>.json.gz.

Resumable: a rerun continues the study where it stopped (the same command). Grid points the
study lacks once its grid is spent (a study built before the fix of the grid on several
workers ran some points twice) are queued with their values (Optuna's enqueue_trial) and run
by `sweep run --sampler random` continuing the study (the grid sampler stops a study whose grid
it has run through), until every point is there.

  python bench/tabular/build.py [TASK ...] [--root DIR] [--workers 2] [--extract-only]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tasks  # noqa: E402
from table import Table, key  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# Outside the worktree by default: the study's folders and journal survive a lost checkout.
DEFAULT_ROOT = Path("/work/tabular_runs")


def run_study(task: str, root: Path, workers: int, sampler: str | None = None) -> float:
    """`sweep run` the task's grid (continuing it when it was started); its seconds."""
    started = time.perf_counter()
    command = ["nice", "-n", "19", sys.executable, "-c",
               "from torchsweep.cli.app import app; app()", "run", str(tasks.study_file(task)),
               "--workers", str(workers), "--root", str(root), "--wandb", "disabled",
               *(["--sampler", sampler] if sampler else [])]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - started


def _study(task: str, root: Path):
    import optuna

    from torchsweep.sweeps.storage import open_storage, storage_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=tasks.study_name(task),
                             storage=open_storage(storage_url(root, None), create=False))


def missing(task: str, root: Path) -> list[dict]:
    """The grid points no finished or queued trial of the task's study has."""
    import itertools

    space, trials = tasks.space(task), _study(task, root).get_trials(deepcopy=False)
    have = {key(space, t.params) for t in trials if t.state.name != "FAIL" and t.params}
    have |= {key(space, t.system_attrs["fixed_params"]) for t in trials
             if t.state.name == "WAITING" and "fixed_params" in t.system_attrs}
    points = (dict(zip(space, values)) for values in itertools.product(*space.values()))
    return [p for p in points if key(space, p) not in have]


def queue_missing(task: str, root: Path) -> None:
    study = _study(task, root)
    for params in missing(task, root):
        study.enqueue_trial(params)


def extract(task: str, root: Path) -> Table:
    """The table of the task's study under `root`: every finished trial's evaluations.
    Raises SystemExit naming how many configurations are missing."""
    import optuna

    from torchsweep.sweeps import attrs

    study = _study(task, root)
    space, fixed = tasks.space(task), tasks.fixed(task)
    rows: dict[tuple, dict] = {}
    steps = None
    for trial in study.get_trials(deepcopy=False):
        # Nothing prunes these studies: a pruned trial is one whose loss diverged, its curve
        # ends where the trainer stopped it.
        if trial.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        folder = root / trial.user_attrs[attrs.TRIAL_DIR]
        evaluations = _lines(folder / "evaluations.jsonl")
        epochs = _lines(folder / "metrics.jsonl")
        params = {name: trial.params[name] for name in space}
        if trial.state == optuna.trial.TrialState.COMPLETE:
            steps = [int(e["samples"]) for e in evaluations]
        rows[key(space, params)] = {
            "params": params,
            "curve": [round(e["val_acc"], 6) for e in evaluations],
            "seconds": [round(e["epoch_seconds"], 4) for e in epochs],
            **({"diverged": True} if trial.state == optuna.trial.TrialState.PRUNED else {})}
    wanted = math.prod(len(values) for values in space.values())
    if len(rows) < wanted:
        raise SystemExit(f"{task}: {len(rows)} of {wanted} configurations finished; "
                         f"run `python bench/tabular/build.py {task}` again to continue")
    # The grid's order, so that a rebuild writes the same bytes.
    order = sorted(rows, key=lambda k: [space[n].index(v) for n, v in zip(space, k)])
    return Table(task=task, metric="val_acc", goal="maximize", epochs=fixed["epochs"],
                 samples_per_epoch=steps[-1] // fixed["epochs"], steps=steps, space=space,
                 fixed=fixed, configs=[rows[k] for k in order])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", nargs="*", default=list(tasks.TASKS))
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args()
    for task in args.tasks:
        tasks.study_file(task)
        seconds = 0.0 if args.extract_only else run_study(task, args.root, args.workers)
        # The grid sampler stops a study whose grid it has run through, so queued points run
        # under the random sampler (their values are given: nothing is drawn).
        for _ in range(0 if args.extract_only else 3):   # a point failing 3 times ends it
            queue_missing(task, args.root)
            waiting = sum(t.state.name == "WAITING"
                          for t in _study(task, args.root).get_trials(deepcopy=False))
            if not waiting:
                break
            print(f"{task}: {waiting} grid points missing, queued with their values", flush=True)
            seconds += run_study(task, args.root, args.workers, "random")
        path = extract(task, args.root).write()
        print(f"{task}: {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB), "
              f"sweep run took {seconds / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
