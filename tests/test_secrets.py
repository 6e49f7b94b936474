"""Secrets stay secret: a W&B API key and a storage password never appear in what `sweep`
prints or writes (checkpoints, configs, metrics, W&B's offline runs, exports)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from cli_helpers import sweep, sweep_process
from needs import POSTGRES, needs_server
from wandb_helpers import closed_port

from torchsweep.sweeps.storage import mask_password
from torchsweep.sweeps.tracking.local_runs import list_runs

API_KEY = "secret-key-123"
PASSWORD = "hunter2"
SECRETS = (API_KEY, PASSWORD)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://user:hunter2@host/db", "postgresql://user:***@host/db"),
    ("postgresql://user:p@ss@host:5432/db", "postgresql://user:***@host:5432/db"),
    ("postgresql://user:a/b:c@host/db", "postgresql://user:***@host/db"),
    ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
    ("postgresql://host/db?user=u&password=hunter2&sslmode=require",
     "postgresql://host/db?user=u&password=***&sslmode=require"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("sqlite:///runs/optuna.db", "sqlite:///runs/optuna.db"),
    ("runs/optuna.journal", "runs/optuna.journal"),
])
def test_storage_urls_are_shown_with_the_password_masked(url, shown):
    assert mask_password(url) == shown


def postgres(password: str, port: int = 5432) -> str:
    return f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/test"


@pytest.fixture(scope="module")
def database() -> str:
    """The PostgreSQL the environment provides (trust authentication: any password does)."""
    needs_server(POSTGRES)
    return postgres(PASSWORD)


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [secret for secret in SECRETS if secret.encode() in data]


def test_no_secret_reaches_output_files_wandb_or_exports(tmp_path, database):
    import optuna

    study, root, export = f"secrets_{uuid.uuid4().hex[:8]}", tmp_path / "root", tmp_path / "best"
    common = ("--storage", database, "--root", root)
    try:
        # A real process: W&B records the command line it was started with.
        ran = sweep_process("run", study, "-p", "lr=0.01..0.1", "--trials", "1", "--set",
                            "epochs=1", "--set", "batch_size=256", "--set", "width=8",
                            "--wandb", "offline", *common, "--json",
                            env={"WANDB_API_KEY": API_KEY, "WANDB_MODE": "offline"})
        assert ran.returncode == 0, ran.stderr
        printed = [ran.stdout, ran.stderr]
        for args in (["show", study], ["best", study, "--export", export], ["list"],
                     ["show", study, "--storage", postgres(PASSWORD, port=1)]):
            result = sweep(*args, *common, env={"WANDB_API_KEY": API_KEY})
            printed += [result.stdout, result.stderr]
    finally:
        optuna.delete_study(study_name=study, storage=database)
    assert "postgres:***@127.0.0.1" in ran.stdout  # the URL is shown, masked
    assert [leaks(text) for text in printed] == [[]] * len(printed)
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any("wandb" in path.parts for path in written), "W&B wrote no offline run"
    assert (export / "model.safetensors").is_file()
    assert {str(path): leaks(path.read_bytes()) for path in written} == \
        {str(path): [] for path in written}


def test_an_online_sweep_that_cannot_reach_wandb_writes_its_key_nowhere(tmp_path):
    """W&B online (an API key, a server that does not answer): the sweep steps down to offline
    runs and finishes, and the key is in nothing it printed and no file it, W&B or the
    trainer wrote: the root, W&B's folders (runs, config, cache, data, artifacts, WANDB_DIR),
    the home folder and the temporary folder, all inside tmp_path."""
    key = f"{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"       # 40 characters, as W&B's keys
    folders = {name: tmp_path / name.lower() for name in (
        "HOME", "TMPDIR", "WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR",
        "WANDB_ARTIFACT_DIR")}
    for folder in folders.values():
        folder.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("WANDB_")}
    env.update({name: str(folder) for name, folder in folders.items()})
    env.update(WANDB_API_KEY=key, WANDB_BASE_URL=f"http://127.0.0.1:{closed_port()}",
               WANDB_INIT_TIMEOUT="2", WANDB_SILENT="true")
    root = tmp_path / "root"
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "run",
               "online", "-p", "lr=0.01..0.1", "--trials", "1", "--set", "epochs=1", "--set",
               "model=mlp", "--set", "batch_size=256", "--set", "width=8", "--root", str(root),
               "--json"]
    ran = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "W&B could not start online-t0 online" in ran.stderr      # it tried, then stepped down
    runs = list_runs(root, "online")
    assert [run.name for run in runs] == ["online-t0", "online-summary"]
    assert {run.sync for run in runs} == {"unsynced"}
    assert key not in ran.stdout and key not in ran.stderr
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".wandb" for path in written)
    assert [path for path in written if key.encode() in path.read_bytes()] == []
