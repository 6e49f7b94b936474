"""CLI latency: `sweep --help`, `list`, `show` and `best` on a study of 1,000 trials.

The study is written straight into the embedded journal storage with the same user attributes
`sweep run` records. Each command runs as a whole process REPEATS times (median reported), and
once more to check that it never imported torch.
Goals: --help under 0.5 s; show and best under 1.5 s.

  python bench/cli_latency.py [--trials 1000] [--repeats 5] [--json FILE]
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
from common import SWEEP, median, print_table, timed, write_json

from torchsweep.sweeps.storage import open_storage, storage_url

STUDY = "latency_study"
EPOCHS = 8
# Runs the CLI, then reports on stderr whether torch got imported along the way.
PROBE = ("import sys\nfrom torchsweep.cli.app import app\ntry:\n    app()\nfinally:\n"
         "    print('TORCH_IMPORTED' if 'torch' in sys.modules else 'NO_TORCH', file=sys.stderr)")


def build_study(root: Path, trials: int) -> None:
    storage = open_storage(storage_url(root, None), create=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=STUDY, direction="maximize")
    study.set_user_attr("spec", {"metric": {"name": "val_acc", "goal": "maximize"}})
    rng = random.Random(0)
    distributions = {"batch_size": optuna.distributions.CategoricalDistribution([16, 64, 256]),
                     "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    made = []
    for number in range(trials):
        params = {"batch_size": rng.choice([16, 64, 256]), "lr": 10 ** rng.uniform(-4, -1)}
        curve = {step: rng.uniform(0.5, 0.99) for step in range(1, EPOCHS + 1)}
        best = max(curve.values())
        made.append(optuna.trial.create_trial(
            params=params, distributions=distributions, value=best, intermediate_values=curve,
            user_attrs={"params": {**params, "epochs": EPOCHS}, "dir": f"{STUDY}/trials/{number:05d}",
                        "summary": {"epochs_run": EPOCHS, "best_epoch": EPOCHS, "pruned_at": None,
                                    "best": {"val_acc": best}, "final": {"val_acc": best}}}))
    study.add_trials(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "runs"
        build_study(root, args.trials)
        commands = {"--help": ["--help"], "list": ["list", "--root", str(root)],
                    "show": ["show", STUDY, "--root", str(root)],
                    "best": ["best", STUDY, "--root", str(root)]}
        results, rows = {}, []
        for name, arguments in commands.items():
            seconds = median([timed([*SWEEP, *arguments], Path(work))[0]
                              for _ in range(args.repeats)])
            probe = subprocess.run([sys.executable, "-c", PROBE, *arguments], cwd=work,
                                   capture_output=True, text=True)
            torch_free = "NO_TORCH" in probe.stderr
            results[name] = {"median_s": seconds, "imports_torch": not torch_free}
            rows.append([f"sweep {name}", seconds, "no" if torch_free else "YES"])
    print_table(f"CLI latency, median of {args.repeats} whole processes "
                f"({args.trials}-trial study)", ["command", "seconds", "imports torch"], rows)
    write_json(args.json_path, results)


if __name__ == "__main__":
    main()
