"""Workers through a PostgreSQL outage: what two `sweep worker`s do when their database is
stopped at once (as a crash or a failover stops it) for a given time and started again.

A private cluster (tests/private_postgres.py: initdb, its own port; never the machine's
server) holds a study of TRIALS trials of a few seconds each (the tests' slow mlp). Two workers
run with the default heartbeat and --storage-grace; once both train, the server is stopped
for each outage length in turn, then started. Reported per outage: each worker's exit code,
its lines on stderr and whether one is a traceback, the seconds from the outage's start to its
exit; then, when a worker gave up, whether one rerun finishes the study; and the study at the
end: its counted trials, completed, failed (and why), none lost.

  python bench/storage_outage.py [--outages 10 300] [--grace 120] [--json FILE]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH, SWEEP, print_table, write_json

TESTS = BENCH.parent / "tests"
sys.path.insert(0, str(TESTS))
from private_postgres import PrivatePostgres  # noqa: E402  (the tests' own cluster)
from worker_helpers import SLOW_STUDY  # noqa: E402

TRIALS = 8
EPOCHS = 30       # about 10 s a trial
ENV = {**os.environ, "WANDB_MODE": "disabled",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}


def sweep(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen([*SWEEP, *map(str, args)], env=ENV, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def running(url: str, name: str) -> int:
    import optuna
    from optuna.trial import TrialState

    from torchsweep.sweeps.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def summary(url: str, name: str) -> dict:
    import optuna

    from torchsweep.sweeps import attrs
    from torchsweep.sweeps.storage import open_storage

    found = optuna.load_study(study_name=name,
                              storage=open_storage(url, create=False)).get_trials()
    retried = {attrs.retry_of(t) for t in found if attrs.is_retry(t)}
    last = [t for t in found if t.number not in retried]
    return {"counted": sum(not attrs.is_retry(t) for t in found),
            "completed": sum(t.state.name == "COMPLETE" for t in last),
            "failed": sorted(f"#{t.number} {attrs.reason(t)}" for t in found
                             if t.state.name == "FAIL"),
            "unfinished": sum(t.state.name in ("RUNNING", "WAITING") for t in found)}


def outage(seconds: float, grace: float, folder: Path) -> dict:
    cluster = PrivatePostgres()
    try:
        name = f"outage{seconds:g}"
        (folder / f"{name}.yaml").write_text(SLOW_STUDY.format(name=name, epochs=EPOCHS,
                                                               batch_size=128))
        made = subprocess.run([*SWEEP, "create", str(folder / f"{name}.yaml"), "--trials",
                               str(TRIALS), "--storage", cluster.url, "--root", str(folder)],
                              env=ENV, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        workers = [sweep("worker", name, "--storage", cluster.url, "--root", folder,
                         "--storage-grace", grace) for _ in range(2)]
        while running(cluster.url, name) < 2:
            time.sleep(0.5)
        cluster.stop()
        stopped = time.monotonic()
        ended = {}
        while time.monotonic() - stopped < seconds:
            for index, worker in enumerate(workers):
                if worker.poll() is not None and index not in ended:
                    ended[index] = time.monotonic() - stopped
            time.sleep(0.2)
        cluster.start()
        results = []
        for index, worker in enumerate(workers):
            _, err = worker.communicate()
            lines = err.strip().splitlines()
            exited = ended.get(index, time.monotonic() - stopped)
            results.append({"exit": worker.returncode, "stderr_lines": len(lines),
                            "traceback": "Traceback" in err,
                            "last_line": lines[-1] if lines else "",
                            "exit_after_s": round(exited, 1)})
        rerun = None
        if any(r["exit"] != 0 for r in results):
            again = subprocess.run([*SWEEP, "worker", name, "--storage", cluster.url, "--root",
                                    str(folder)], env=ENV, capture_output=True, text=True)
            rerun = again.returncode
        return {"outage_s": seconds, "grace_s": grace, "workers": results, "rerun_exit": rerun,
                "study": summary(cluster.url, name)}
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=float, nargs="+", default=[10, 300])
    parser.add_argument("--grace", type=float, default=120)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.outages:
            results.append(outage(seconds, args.grace, Path(folder)))
            print(results[-1], flush=True)
    rows = [[f"{r['outage_s']:g}", " ".join(str(w["exit"]) for w in r["workers"]),
             " ".join(str(w["stderr_lines"]) for w in r["workers"]),
             " ".join(str(w["exit_after_s"]) for w in r["workers"]),
             any(w["traceback"] for w in r["workers"]),
             "-" if r["rerun_exit"] is None else r["rerun_exit"],
             f"{r['study']['completed']}/{r['study']['counted']}",
             ", ".join(r["study"]["failed"]) or "none", r["study"]["unfinished"]]
            for r in results]
    print_table(f"two workers, --storage-grace {args.grace:g}, default heartbeat",
                ["outage s", "exits", "stderr lines", "exit after s", "traceback", "rerun",
                 "completed", "failed attempts (retried)", "unfinished"], rows)
    write_json(args.json_path, {"runs": results})


if __name__ == "__main__":
    main()
