"""What a pruner would have saved: a study run with `--pruner none`, replayed through pruners.

Training does not depend on the pruner, so a study whose trials' settings do not depend on
earlier results either (method: random, one worker) prunes in a real run exactly as its
unpruned trials, fed in the same order to the same pruner (sweep's own `build_pruner`, in a
study of the same name: hyperband's brackets hash it), are pruned here. For a model-based
sampler (TPE) the replay is an estimate: a real run would draw other settings after a prune.
Epochs trained count a pruned trial up to the step it was stopped at (nominal samples over the
split; the real run also trains to the end of the batch that crossed it).

  python bench/pruning_replay.py ROOT STUDY [--min-iter 0.5,1,2] [--eta 3] [--pruner NAME]

(`--pruner` defaults to the study's own, as its file names it or by sweep's defaults.)
"""
from __future__ import annotations

import argparse
import dataclasses

import optuna
from common import print_table
from optuna.trial import TrialState

from torchsweep.sweeps.engine.orchestrate import study_spec
from torchsweep.sweeps.engine.pruners import build_pruner, epoch_samples
from torchsweep.sweeps.storage import open_storage, storage_url


def replay(trials: list, name: str, pruner: optuna.pruners.BasePruner, split: int) -> dict:
    study = optuna.create_study(study_name=name, direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    epochs, pruned, best = 0.0, 0, None
    for recorded in trials:
        # its own settings, which a pruner with the study's prune_within groups it by
        study.enqueue_trial(recorded.params)
        trial = study.ask(recorded.distributions)
        steps = sorted(recorded.intermediate_values.items())
        for step, value in steps:
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=TrialState.PRUNED)
                epochs, pruned = epochs + step / split, pruned + 1
                break
        else:
            study.tell(trial, recorded.value)
            epochs += steps[-1][0] / split
            best = recorded.value if best is None else max(best, recorded.value)
    return {"epochs": epochs, "pruned": pruned, "best": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("study")
    parser.add_argument("--pruner", default=None, help="default: the study's own")
    parser.add_argument("--min-iter", default="0.25,0.5,1,2,3,6")
    parser.add_argument("--eta", default="3")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stored = optuna.load_study(study_name=args.study,
                               storage=open_storage(storage_url(args.root, None), create=False))
    spec = study_spec(stored, args.study)
    pruner = args.pruner or spec.pruner_name()
    split = epoch_samples(spec, {})
    trials = sorted((t for t in stored.trials if t.state == TrialState.COMPLETE),
                    key=lambda t: t.number)
    full = {"epochs": sum(max(t.intermediate_values) / split for t in trials),
            "best": max(t.value for t in trials)}
    rows = []
    for eta in map(int, args.eta.split(",")):
        for min_iter in map(float, args.min_iter.split(",")):
            changed = dataclasses.replace(spec, early_terminate={
                "type": "hyperband", "min_iter": min_iter, "eta": eta})
            got = replay(trials, args.study, build_pruner(pruner, changed, split), split)
            rows.append([pruner, min_iter, eta, got["pruned"], got["epochs"],
                         got["epochs"] / full["epochs"], got["best"],
                         100 * (full["best"] - got["best"])])
    print_table(f"{args.study} in {args.root}: {len(trials)} trials, {full['epochs']:.1f} epochs "
                f"without pruning, best {full['best']:.4f}",
                ["pruner", "min_iter", "eta", "pruned", "epochs", "ratio", "best",
                 "points lost"], rows)


if __name__ == "__main__":
    main()
