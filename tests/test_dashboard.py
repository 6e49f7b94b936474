"""`sweep dashboard`: optuna-dashboard on a study's embedded storage, opened in Chromium."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from browser_helpers import open_page
from cli_helpers import one_line_error, sweep, sweep_process

from torchsweep.sweeps.readout.dashboard import is_local

STUDY = "dash_study"
STARTUP_S = 60


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    result = sweep("run", STUDY, "--param", "lr=0.05", "--trials", "1", "--set", "epochs=1",
                   "--wandb", "disabled", "--root", root, "--json")
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def dashboard(root):
    """`sweep dashboard` in its own process on a free port; yields the URL it printed."""
    command = [sys.executable, "-c", "from torchsweep.cli.app import app; app()", "dashboard", STUDY,
               "--root", str(root), "--port", "0"]
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


def test_dashboard_shows_the_study(dashboard, tmp_path):
    url, process = dashboard
    assert url.startswith("http://127.0.0.1:")  # localhost unless told otherwise
    with open_page(url) as (page, log):
        page.get_by_text(STUDY).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert not [e for e in log.errors if "Uncaught" in e or "Error:" in e], log.errors
    # Ctrl-C ends it quietly.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


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
