"""The four searchers bench/search.py compares, each run once in its own process.

Every contender searches the same space for the same model and data, with the same number of
trials and epochs, and trains through the same `torchsweep.trainer.fit` (sweep through its
own worker; the peers through a callback that reports each epoch to their pruner). Each one
writes a JSON record: one line per trial in the order trials ended, with the epochs it
trained, its best val_acc and the seconds from the first trial's start to its end.

  python bench/search_contenders.py CONTENDER --seed S --trials N --epochs E --dataset D --out F
  CONTENDER: sweep | handwritten | wandb | ray
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import PEER, SWEEP

# The space every contender searches (the issue's; the peer script's own `--mode tpe` space).
BATCH_SIZES = [16, 32, 64, 128, 256]
SMOOTHING = (0.0, 0.2)                  # label smoothing, uniform
OPTIMIZERS = ["sgd", "adam", "adamw"]
LR = (1e-4, 1e-1)                       # log-uniform
SCHEDULERS = ["constant", "cosine", "step", "onecycle"]
# Fixed for every trial: 1 torch thread each, so that the shared 2-core machine's load
# hits all contenders alike; momentum is the peer script's.
# mnist1d is generated once into the repo's (git-ignored) data folder and read from there.
FIXED = {"model": "cnn", "momentum": 0.9, "threads": 1,
         "data_dir": str(Path(__file__).resolve().parent.parent / "data")}
CONTENDERS = ("sweep", "handwritten", "wandb", "ray")


def base_config(dataset: str, epochs: int):
    from torchsweep.trainer import TrainConfig
    return TrainConfig.from_dict({**FIXED, "dataset": dataset, "epochs": epochs})


class Recorder:
    """Trials in the order they end: epochs trained, best val_acc, seconds since the first start."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.trials: list[dict] = []

    def start(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def end(self, epochs: int, best: float, params: dict) -> None:
        self.trials.append({"epochs": epochs, "best": best, "end_s": time.perf_counter()
                            - self.started, "params": params})


def train(config, recorder: Recorder, on_epoch) -> float:
    """One trial through the shared trainer; `on_epoch(epoch, val_acc)` returns True to stop."""
    from torchsweep.trainer import fit
    recorder.start()
    result = fit(config, callbacks=[lambda m: on_epoch(int(m["epoch"]), m["val_acc"])])
    best = max(m["val_acc"] for m in result.history)
    recorder.end(result.epochs_run, best, {k: getattr(config, k) for k in
                                           ("batch_size", "label_smoothing", "optimizer", "lr",
                                            "scheduler")})
    return best


def run_sweep(args, work: Path, recorder: Recorder) -> None:
    """`sweep run` with its defaults (sampler, pruner, one worker), the space as --param."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    params = [f"batch_size={','.join(map(str, BATCH_SIZES))}",
              f"label_smoothing={SMOOTHING[0]}..{SMOOTHING[1]}",
              f"optimizer={','.join(OPTIMIZERS)}", f"lr=log:{LR[0]}..{LR[1]}",
              f"scheduler={','.join(SCHEDULERS)}"]
    fixed = {**FIXED, "dataset": args.dataset, "epochs": args.epochs}
    command = [*SWEEP, "run", "search", "--root", str(work), "--seed", str(args.seed),
               "--trials", str(args.trials), "--wandb", "disabled", "--json"]
    command += [item for p in params for item in ("--param", p)]
    command += [item for k, v in fixed.items() for item in ("--set", f"{k}={v}")]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sweep run failed ({done.returncode}): {done.stderr[-2000:]}")
    # Times from the study's own records: first trial's start to each trial's end.
    storage = JournalStorage(JournalFileBackend(str(work / "optuna.journal")))
    trials = optuna.load_study(study_name="search", storage=storage).trials
    origin = min(t.datetime_start for t in trials)
    for t in sorted(trials, key=lambda t: t.datetime_complete or datetime.max):
        lines = (work / "search" / "trials" / f"{t.number:05d}" / "metrics.jsonl").read_text()
        history = [json.loads(line) for line in lines.splitlines()]
        recorder.trials.append({"epochs": len(history),
                                "best": max(m["val_acc"] for m in history),
                                "end_s": (t.datetime_complete - origin).total_seconds(),
                                "params": {k: v for k, v in t.params.items()},
                                "state": t.state.name})


def run_handwritten(args, work: Path, recorder: Recorder) -> None:
    """The peer script itself, its sampler, pruner, space and trial count, run as written;
    only its objective's training (its own 8x8 digits CNN) is swapped for the shared trainer.
    Its `optuna.create_study` is wrapped so that `study.optimize` runs an objective that takes
    the parameters from the script's own `suggest(trial)` and reports as the script does
    (val_acc at step epoch-1, then `should_prune`)."""
    import optuna
    base = base_config(args.dataset, args.epochs)
    real_create = optuna.create_study

    class Study:
        def __init__(self, study):
            self._study = study

        def __getattr__(self, name):
            return getattr(self._study, name)

        def optimize(self, objective, n_trials):
            suggest = objective.__globals__["suggest"]

            def shared(trial):
                params = dict(suggest(trial))
                # the script's "none" is the trainer's "constant"
                params["scheduler"] = params["scheduler"].replace("none", "constant")

                def on_epoch(epoch, acc):
                    trial.report(acc, epoch - 1)
                    return trial.should_prune()

                best = train(base.replace(**params), recorder, on_epoch)
                if recorder.trials[-1]["epochs"] < args.epochs:
                    raise optuna.TrialPruned()
                return best

            self._study.optimize(shared, n_trials=n_trials)

    optuna.create_study = lambda **kw: Study(real_create(**kw))
    sys.argv = [str(PEER), "--mode", "tpe", "--trials", str(args.trials), "--epochs",
                str(args.epochs), "--seed", str(args.seed), "--threads", "1", "--out", str(work)]
    os.environ["WANDB_MODE"] = "disabled"
    runpy.run_path(str(PEER), run_name="__main__")


def wandb_config(epochs: int) -> dict:
    """W&B's bayes search with hyperband, as a W&B sweep config (min_iter 3: W&B's example)."""
    return {"method": "bayes", "metric": {"name": "val_acc", "goal": "maximize"},
            "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
            "parameters": {
                "batch_size": {"values": BATCH_SIZES},
                "label_smoothing": {"distribution": "uniform", "min": SMOOTHING[0],
                                    "max": SMOOTHING[1]},
                "optimizer": {"values": OPTIMIZERS},
                "lr": {"distribution": "log_uniform_values", "min": LR[0], "max": LR[1]},
                "scheduler": {"values": SCHEDULERS}}}


def run_wandb(args, work: Path, recorder: Recorder) -> None:
    """W&B's own engine (the `sweeps` package the W&B server runs), driven in a loop as its
    controller does: next_run proposes, each epoch's val_acc joins the run's history, and
    stop_runs (hyperband) decides after every epoch. A stopped run counts as finished with
    its history, as the W&B agent leaves it."""
    import numpy as np
    sys.path = [p for p in sys.path if Path(p).resolve() != Path.cwd().resolve()]
    import sweeps
    assert "site-packages" in sweeps.__file__, sweeps.__file__
    config = wandb_config(args.epochs)
    base = base_config(args.dataset, args.epochs)
    # fit seeds numpy's global generator for training, and W&B's engine draws its proposals
    # from that same generator: the engine's state is kept apart, seeded by the bench seed.
    engine = np.random.RandomState(args.seed).get_state()
    runs: list = []
    for number in range(args.trials):
        np.random.set_state(engine)
        proposal = sweeps.next_run(config, runs)
        engine = np.random.get_state()
        run = sweeps.SweepRun(name=f"run{number}", state=sweeps.RunState.running,
                              config=proposal.config)
        runs.append(run)
        params = {k: v["value"] for k, v in proposal.config.items()}

        def on_epoch(epoch, acc, run=run):
            run.history.append({"val_acc": acc, "epoch": epoch})
            return any(r.name == run.name for r in sweeps.stop_runs(config, runs))

        train(base.replace(**params), recorder, on_epoch)
        run.state = sweeps.RunState.finished


def run_ray(args, work: Path, recorder: Recorder) -> None:
    """Ray Tune: OptunaSearch (its default TPE, seeded) with the ASHA scheduler at its
    defaults (grace period 1 epoch, reduction factor 4), one trial at a time."""
    import ray
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch
    space = {"batch_size": CategoricalDistribution(BATCH_SIZES),
             "label_smoothing": FloatDistribution(*SMOOTHING),
             "optimizer": CategoricalDistribution(OPTIMIZERS),
             "lr": FloatDistribution(*LR, log=True),
             "scheduler": CategoricalDistribution(SCHEDULERS)}
    base = base_config(args.dataset, args.epochs)

    def trainable(params):
        from torchsweep.trainer import fit
        config = base.replace(**params)
        started = time.time()

        def report(metrics):
            tune.report({"val_acc": metrics["val_acc"], "started": started, "now": time.time()})

        fit(config, callbacks=[report])

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(space, metric="val_acc", mode="max", seed=args.seed),
            scheduler=ASHAScheduler(max_t=args.epochs, metric="val_acc", mode="max"),
            num_samples=args.trials,
            max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(work), verbose=0))
    grid = tuner.fit()
    frames = [(r.metrics_dataframe, r.config) for r in grid if r.metrics_dataframe is not None]
    origin = min(float(f["started"].iloc[0]) for f, _ in frames)
    for frame, params in sorted(frames, key=lambda fp: float(fp[0]["now"].iloc[-1])):
        recorder.trials.append({"epochs": len(frame), "best": float(frame["val_acc"].max()),
                                "end_s": float(frame["now"].iloc[-1]) - origin,
                                "params": params})
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    recorder = Recorder()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        globals()[f"run_{args.contender}"](args, Path(work), recorder)
    record = {"contender": args.contender, "seed": args.seed, "trials": args.trials,
              "epochs": args.epochs, "dataset": args.dataset,
              "process_s": time.perf_counter() - started, "load_after": os.getloadavg(),
              "runs": recorder.trials}
    Path(args.out).write_text(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
