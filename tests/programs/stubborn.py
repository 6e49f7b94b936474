"""A long-running program that tests watch from outside, through the files it leaves in its
trial folder (SWEEP_TRIAL_DIR).

Each attempt prints a line to stdout and one to stderr, appends `<pid> <SWEEP_TRIAL_DIR>` to
`attempts.txt`, and starts a child in its own process group (a subprocess it never waits for,
as a data loader's workers are), whose pid it appends to `pids.txt` after its own. The first
attempt then waits to be stopped, logging nothing: with `--on_sigterm ignore` it notes the time
of each SIGTERM in `sigterm.txt` and goes on waiting. An attempt that finds an earlier one in
`attempts.txt` resumes from it: it logs `val_loss` to W&B and ends.
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--on_sigterm", default="stop", choices=["stop", "ignore"])
parser.add_argument("--attempt_seconds", type=float, default=120)
args = parser.parse_args()

folder = Path(os.environ["SWEEP_TRIAL_DIR"])
attempts = folder / "attempts.txt"
resumed = attempts.is_file()
attempt = len(attempts.read_text().splitlines()) + 1 if resumed else 1
print(f"stdout of attempt {attempt}", flush=True)
print(f"stderr of attempt {attempt}", file=sys.stderr, flush=True)
with open(attempts, "a") as out:
    out.write(f"{os.getpid()} {folder}\n")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(folder / "pids.txt", "a") as out:
    out.write(f"{os.getpid()}\n{child.pid}\n")

if resumed:
    import wandb

    wandb.init(project="stubborn")
    wandb.log({"epoch": 1, "val_loss": 0.5})
    wandb.finish()
    child.kill()
    sys.exit(0)

if args.on_sigterm == "ignore":
    def note(signum, frame):
        with open(folder / "sigterm.txt", "a") as out:
            out.write(f"{time.time()}\n")

    signal.signal(signal.SIGTERM, note)
# Stopped long before this; a sweep that never stops it does not leave it running for ever.
time.sleep(args.attempt_seconds)
sys.exit("never stopped")
