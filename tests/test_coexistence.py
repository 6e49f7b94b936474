"""Installed beside W&B's own sweep engine (`pip install 'wandb[sweeps]'`, imported as `sweeps`):
every command works and W&B's engine still imports, editable or installed from a wheel."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs import needs_wandb_engine

PROJECT = Path(__file__).resolve().parent.parent
# Runs outside the checkout: there, `sweeps` can only mean an installed package.
PROBE = """
import json, sys
import sweeps                                   # W&B's engine, imported first
from torchsweep.cli.app import app
engine_file = sweeps.__file__
suggested = sweeps.next_run({"method": "grid", "parameters": {"a": {"values": [1, 2]}}}, [])
try:
    app(sys.argv[1:])
except SystemExit as done:
    code = done.code
import torchsweep.sweeps
print(json.dumps({"code": code, "engine": engine_file, "ours": torchsweep.sweeps.__file__,
                  "suggested": suggested.config["a"]["value"]}), file=sys.stderr)
"""


def probe(args, cwd: Path, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)
    found = json.loads(done.stderr.strip().splitlines()[-1])
    return {**found, "stdout": done.stdout}


@pytest.fixture
def beside_wandb_engine(tmp_path):
    needs_wandb_engine()
    return tmp_path


@pytest.mark.parametrize("args", [
    ["list"],
    ["space", "batchsize_study"],
    ["run", "beside", "--param", "lr=0.05", "--set", "epochs=1", "--set", "model=mlp",
     "--trials", "1", "--wandb", "disabled", "--json"],
])
def test_every_command_works_with_wandbs_engine_imported_first(beside_wandb_engine, args):
    found = probe([*args, "--root", beside_wandb_engine / "runs"] if args[0] != "list"
                  else args, cwd=beside_wandb_engine)
    assert found["code"] in (0, None), found
    assert "site-packages/sweeps/" in found["engine"]          # W&B's, not ours
    assert found["suggested"] == 1                            # and it still works
    assert "torchsweep" not in found["engine"]


def test_a_wheel_installs_under_its_own_namespace(beside_wandb_engine):
    """Installed normally, the package writes only torchsweep/: W&B's sweeps/ stays whole."""
    source, wheels = beside_wandb_engine / "source", beside_wandb_engine / "wheels"
    target = beside_wandb_engine / "target"
    # Built from a copy: setuptools leaves build/ folders beside the sources it builds.
    for name in ("trainer", "sweeps", "cli", "package"):   # setup.py's FOLDERS and TOP
        shutil.copytree(PROJECT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True, capture_output=True,
                   timeout=300)
    wheel, = wheels.glob("torchsweep-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"torchsweep"}               # no sweeps/, cli/ or trainer/
    assert sorted(p.name for p in (target / "torchsweep").iterdir()
                  if p.name != "__pycache__") == [
        "__init__.py", "cli", "sweeps", "trainer"]
    assert (target / "torchsweep" / "sweeps" / "studies" / "batchsize_study.yaml").is_file()
    found = probe(["space", "batchsize_study"], cwd=beside_wandb_engine,
                  env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert found["code"] in (0, None), found
    assert found["ours"].startswith(str(target))                # the wheel's copy ran
    assert "site-packages/sweeps/" in found["engine"] and found["suggested"] == 1
    assert "batch_size" in found["stdout"]
