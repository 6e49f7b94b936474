"""Replay `sweep run` against a table: sweep's own sampler, pruner, queue and prune_within,
with the stand-in (standin.py) in place of training. Returns the anytime trace.

  python bench/tabular/replay_sweep.py TASK [--seeds 0,1,2] [--trials 100] [--set key=value ...]

prints one JSON line per seed (its seconds, trials, pruned, final epochs and best).

`--set` takes study-file keys (yaml values): sampler=gp, pruner=median, prune_within=batch_size,
method=random, early_terminate={type: hyperband, min_iter: 1, eta: 3}.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tasks  # noqa: E402
from standin import TableTrainer  # noqa: E402
from table import Table  # noqa: E402

SCRATCH = Path("/dev/shm")


def study_doc(table: Table, trials: int, settings: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    """A study file as a user writes it for the table's task: method bayes, sweep's default
    pruner, the space as ranges and choices; `settings` (study-file keys) on top."""
    return {"name": f"replay_{table.task}", "method": "bayes",
            "metric": {"name": table.metric, "goal": table.goal}, "trials": trials,
            "parameters": table.search_parameters(), **(settings or {})}


def replay(task: str, seed: int = 0, trials: int = 100, settings: dict[str, Any] | None = None,
           workers: int = 1, trainer: TableTrainer | None = None) -> dict[str, Any]:
    """One sweep over the table. The trace is [(epochs trained so far, best so far)] after
    each trial in the order trials finished; a trial's best is the best epoch-end value it
    reached (its best.pt), pruned trials included, and None before any full epoch."""
    from torchsweep.sweeps.engine.orchestrate import run_study
    from torchsweep.sweeps.engine.run_options import RunOptions
    from torchsweep.sweeps.study import parse_study

    trainer = trainer or TableTrainer(task)
    spec = parse_study(study_doc(trainer.table, trials, settings), name=f"replay_{task}",
                       source=f"replay of {task}")
    import torchsweep.trainer.loop  # noqa: F401  (torch, imported once, before the freeze)

    # The trial loop calls gc.collect() after each pruned trial to give its tensors back; over
    # torch's heap that takes 0.3 s, most of a replay. Frozen objects are never scanned.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    # A journal on tmpfs: the journal fsyncs every write, a quarter of a replay on disk.
    with tempfile.TemporaryDirectory(dir=SCRATCH if SCRATCH.is_dir() else None) as root:
        outcome = run_study(spec, RunOptions(root=Path(root), seed=seed, wandb="disabled",
                                             workers=workers, trainer=trainer))
        finished = sorted((t for t in outcome.study.get_trials(deepcopy=False)
                           if t.datetime_complete), key=lambda t: t.datetime_complete)
    from torchsweep.sweeps import attrs

    trace, epochs, best, pruned = [], 0.0, None, 0
    for trial in finished:
        summary = attrs.summary(trial)
        epochs += summary.epochs_trained or 0.0
        value = (summary.best or {}).get(trainer.table.metric)
        if value is not None and (best is None or value > best):
            best = value
        pruned += trial.state.name == "PRUNED"
        trace.append((round(epochs, 4), best))
    return {"task": task, "seed": seed, "trials": len(finished), "pruned": pruned,
            "sampler": spec.sampler_name(), "pruner": spec.pruner_name(),
            "settings": settings or {}, "seconds": round(time.perf_counter() - started, 2),
            "trace": trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=tasks.TASKS)
    parser.add_argument("--seeds", default="0", help="comma-separated sampler seeds")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    settings = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    for seed in map(int, args.seeds.split(",")):
        out = replay(args.task, seed, args.trials, settings)
        epochs, best = out.pop("trace")[-1]
        print(json.dumps({**out, "epochs": epochs, "best": best}), flush=True)


if __name__ == "__main__":
    main()
