"""Files others can read: what `sweep` writes (trial outputs, checkpoints, the study file, the
export, the report) gets the mode the user's umask gives any new file, as `open()` would: a
report is meant to be mailed or put on a file share. Written atomically through a temporary
file, they used to keep its private 0600."""
import json
import subprocess
import sys
from pathlib import Path

# One process, a study per umask: `sweep run`, `best --export` and `report` as a user runs them.
SCRIPT = """
import json, os, sys
from pathlib import Path
from torchsweep.cli.app import app

modes = {}
for umask in (0o022, 0o077):
    os.umask(umask)
    study, export = f"modes{umask:o}", Path(f"best{umask:o}")
    for args in (["run", study, "--param", "lr=0.05", "--trials", "1", "--set", "model=mlp",
                  "--set", "width=8", "--set", "epochs=1", "--set", "batch_size=256",
                  "--wandb", "disabled", "--root", "runs", "--json"],
                 ["best", study, "--root", "runs", "--export", str(export), "--json"],
                 ["report", study, "--root", "runs"]):
        try:
            app(args, prog_name="sweep")
        except SystemExit as end:
            assert end.code in (0, None), (args, end.code)
    files = [*Path("runs", study).rglob("*"), *export.rglob("*")]
    modes[f"{umask:o}"] = {str(path): path.stat().st_mode & 0o777 for path in files
                           if path.is_file()}
print(json.dumps(modes))
"""


def test_outputs_get_the_mode_the_umask_gives(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout.splitlines()[-1])
    for umask, expected in (("22", 0o644), ("77", 0o600)):
        files = modes[umask]
        names = {Path(path).name for path in files}
        # The atomic writer's files (checkpoint, config, metrics, study file, export, report)
        # and the export's weights, which safetensors alone would write 0600.
        assert {"best.pt", "config.json", "metrics.jsonl", "evaluations.jsonl", "study.yaml",
                "model.safetensors", "params.json", "metrics.json", "report.html"} <= names
        wrong = {path: oct(mode) for path, mode in files.items() if mode != expected}
        assert not wrong, f"umask 0{umask}: {wrong}"
