"""Time from `sweep launch slurm submit` to the first trial starting, on the one-node Slurm
of .ci/slurm and the machine's PostgreSQL.

Each round creates a tiny study (mlp, width 8, 2 epochs), then times from just before
`sweep launch slurm submit STUDY --jobs 1` is started to the `datetime_start` Optuna records for
the study's first trial (when the job's worker claimed it), split into:

  submit     the `sweep launch slurm submit` process, start to exit (imports, the study check,
             sbatch, recording the array on the study)
  job        launch to Slurm starting the job (its StartTime from `scontrol show job`, in
             whole seconds: the job often starts before the submitting process has exited)
  trial      the job's start to the first trial starting (python, torch, opening the study)

Seconds; the median over the rounds. Other processes on the CPU skew it.

  bash .ci/slurm && SLURM_CONF=/var/tmp/sweep-slurm/slurm.conf python bench/slurm_launch.py \
      [--rounds 3] [--storage postgresql://postgres@127.0.0.1:5432/test] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import optuna
from common import SWEEP, median, print_table, timed, write_json

from torchsweep.sweeps.storage import open_storage

TINY = ["--param", "lr=log:0.01..0.2", "--set", "epochs=2", "--set", "model=mlp", "--set",
        "width=8", "--set", "batch_size=512", "--sampler", "random", "--pruner", "none"]
QUIET = {"WANDB_MODE": "disabled"}


def one_round(storage: str, folder: Path) -> dict[str, float]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    root = folder / "runs"
    timed([*SWEEP, "create", name, *TINY, "--trials", "1", "--storage", storage,
           "--root", str(root)], folder, QUIET)
    try:
        launched = time.time()
        submit, out = timed([*SWEEP, "launch", "slurm", "submit", name, "--jobs", "1", "--time",
                             "10", "--storage", storage, "--root", str(root), "--json"], folder,
                            QUIET)
        job = json.loads(out)["jobs"][0]
        study = optuna.load_study(study_name=name, storage=open_storage(storage, create=False))
        deadline = time.time() + 300
        while True:
            started = [t.datetime_start for t in study.get_trials(deepcopy=False)
                       if t.datetime_start is not None]
            if started:
                break
            if time.time() > deadline:
                raise SystemExit(f"no trial started within 300 s; see {root / name / 'slurm'}")
            time.sleep(0.05)
        trial_start = min(started).timestamp()
        job_start = _job_start(job)
        return {"total": trial_start - launched, "submit": submit,
                "job": job_start - launched, "trial": trial_start - job_start}
    finally:
        subprocess.run(["scancel", job], capture_output=True)
        optuna.delete_study(study_name=name, storage=open_storage(storage, create=False))


def _job_start(job: str) -> float:
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True,
                           check=True).stdout
    start = next(f.split("=", 1)[1] for f in shown.split() if f.startswith("StartTime="))
    return datetime.fromisoformat(start).timestamp()   # whole seconds: Slurm's resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storage", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        rounds = [one_round(args.storage, Path(folder)) for _ in range(args.rounds)]
    columns = ["total", "submit", "job", "trial"]
    rows = [[f"round {i + 1}", *[r[c] for c in columns]] for i, r in enumerate(rounds)]
    rows.append(["median", *[median([r[c] for r in rounds]) for c in columns]])
    print_table("`sweep launch slurm submit` to the first trial starting (s)", ["", *columns], rows)
    write_json(args.json, {"rounds": rounds})


if __name__ == "__main__":
    main()
