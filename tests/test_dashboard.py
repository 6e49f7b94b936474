"""`sweep dashboard`: optuna-dashboard on a study's embedded storage, opened in Chromium."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_helpers import open_page
from cli_helpers import one_line_error, sweep, sweep_json, sweep_process
from worker_helpers import finish, start, wait_for

from torchsweep.sweeps.readout.dashboard import is_local

STUDY = "dash_study"
STARTUP_S = 60
RELEASE = "SWEEP_TEST_RELEASE"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    result = sweep("run", STUDY, "--param", "lr=0.05", "--trials", "1", "--set", "epochs=1",
                   "--wandb", "disabled", "--root", root, "--json")
    assert result.exit_code == 0, result.stderr
    return root


@contextmanager
def served(root, *options):
    """`sweep dashboard` in its own process on a free port; yields the URL it printed and the
    process."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "dashboard",
               STUDY, "--root", str(root), "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        deadline, url = time.monotonic() + STARTUP_S, None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"http://\S+", line)
            url = found.group(0) if found else None
        assert url, f"no URL printed; stderr: {process.stderr.read() if process.poll() else ''}"
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def dashboard(root):
    with served(root) as (url, process):
        yield url, process


def test_dashboard_shows_the_study(dashboard, tmp_path):
    url, process = dashboard
    assert url.startswith("http://127.0.0.1:")  # localhost unless told otherwise
    with open_page(url) as (page, log):
        page.get_by_text(STUDY).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert log.errors == []
    # Ctrl-C ends it quietly.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def states(url: str) -> list[str]:
    """The states of the study's trials as the dashboard's page reads them (its JSON API)."""
    found = re.match(r"(http://[^/]+)/dashboard/studies/(\d+)", url)
    with urllib.request.urlopen(f"{found[1]}/api/studies/{found[2]}", timeout=10) as response:
        return [trial["state"] for trial in json.load(response)["trials"]]


def held_until_released(input_shape, num_classes, config):
    """A model factory (`--set model=test_dashboard:held_until_released`): its trial runs until
    the file named by $SWEEP_TEST_RELEASE exists, then trains the mlp."""
    from torchsweep.trainer.models import build_model

    while not Path(os.environ[RELEASE]).exists():
        time.sleep(0.05)
    return build_model(config.replace(model="mlp"), input_shape, num_classes)


def test_the_dashboard_shows_a_trial_while_it_runs(tmp_path, monkeypatch):
    """The dashboard reads the storage a sweep writes as it goes: a queued trial, shown
    waiting, then running (held so until the test has seen it), then done, without a restart."""
    root, release = tmp_path / "live", tmp_path / "release"
    monkeypatch.setenv(RELEASE, str(release))
    sweep_json("create", STUDY, "--param", "lr=0.05", "--set", "epochs=1", "--set", "width=8",
               "--set", "model=test_dashboard:held_until_released", "--trials", "1",
               "--root", root)
    with served(root) as (url, _):
        assert states(url) == ["Waiting"]
        running = start("run", STUDY, "--root", root)
        try:
            wait_for(lambda: states(url) == ["Running"], timeout=60, every=0.5, process=running,
                     what="the dashboard to show the trial running")
            release.touch()
            code, _, err = finish(running)
            assert code == 0, err
            wait_for(lambda: states(url) == ["Complete"], timeout=30, every=0.5,
                     what="the dashboard to show the trial done")
        finally:
            if running.poll() is None:
                os.killpg(running.pid, signal.SIGKILL)


def test_listening_beyond_localhost_warns_in_one_line(root):
    with served(root, "--host", "0.0.0.0") as (url, process):
        assert url.startswith("http://0.0.0.0:")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        warning = process.stderr.read()
    assert warning.strip().splitlines() == [
        "note: listening on 0.0.0.0: anyone who can reach it can change and delete the studies "
        "in this storage"]


def test_a_taken_port_is_one_line_and_exit_code_2(root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sweep_process("dashboard", STUDY, "--root", root, "--port", port, timeout=60)
    one_line_error(result, 2, f"cannot listen on 127.0.0.1:{port}")


def test_an_unknown_study_is_exit_code_3(root):
    one_line_error(sweep("dashboard", "nope", "--root", root), 3, "no study named 'nope'")


@pytest.mark.parametrize("host, local", [("127.0.0.1", True), ("localhost", True),
                                         ("::1", True), ("0.0.0.0", False),
                                         ("192.168.1.5", False), ("example.org", False)])
def test_which_hosts_are_local(host, local):
    assert is_local(host) is local
