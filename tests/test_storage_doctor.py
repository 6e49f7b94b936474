"""Storage that cannot keep a study is named: when a study is created there, and by
`sweep doctor --storage URL` (the connection, the schema, the server's persistence, the clock).

Redis servers of the test's own, with and without persistence (the machine's Redis may be
either)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

from cli_helpers import one_line_error, sweep, sweep_process
from needs import POSTGRES, needs, needs_server
from worker_helpers import TINY_SPACE

KEEPS_NOTHING = "keeps neither an append-only file nor snapshots"


@contextmanager
def private_redis(*settings: str):
    """A redis-server on its own port with `settings`; its URL."""
    needs(shutil.which("redis-server") is not None, "redis-server (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="sweep-redis-")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--dir", folder, *settings], stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "no redis-server"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def test_creating_a_study_on_a_redis_that_keeps_nothing_says_so_once(tmp_path):
    with private_redis("--save", "", "--appendonly", "no") as url:
        create = ("create", "forgetful", *TINY_SPACE, "--storage", url, "--root", tmp_path)
        first = sweep_process(*create)
        assert first.returncode == 0, first.stderr
        note, = [line for line in first.stderr.splitlines() if KEEPS_NOTHING in line]
        assert note.startswith(f"note: study 'forgetful' is kept in {url}, but this Redis")
        assert "appendonly yes" in note
        again = sweep_process(*create, "--trials", "1")
        assert again.returncode == 0 and KEEPS_NOTHING not in again.stderr


def test_no_note_on_a_redis_that_keeps_an_append_only_file(tmp_path):
    with private_redis("--save", "", "--appendonly", "yes") as url:
        made = sweep_process("create", "kept", *TINY_SPACE, "--storage", url, "--root", tmp_path)
        assert made.returncode == 0, made.stderr
        assert KEEPS_NOTHING not in made.stderr


def test_doctor_names_a_redis_that_keeps_nothing():
    with private_redis("--save", "", "--appendonly", "no") as url:
        result = sweep("doctor", "--storage", url, "--json")
    assert result.exit_code == 0, result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert [checks[name]["status"] for name in ("connection", "schema", "clock")] == ["ok"] * 3
    assert checks["persistence"]["status"] == "warning"
    assert KEEPS_NOTHING in checks["persistence"]["detail"]


def test_doctor_finds_a_postgresql_fit_to_keep_studies():
    needs_server(POSTGRES)    # its tables made, as Optuna's current schema
    result = sweep("doctor", "--storage", POSTGRES)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "connection"], ["ok", "schema"], ["ok", "persistence"], ["ok", "clock"]]
    assert "as Optuna" in lines[1]
    assert "behind" in lines[3] or "ahead of" in lines[3]


def test_doctor_on_a_server_that_does_not_answer_says_so_in_one_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = sweep("doctor", "--storage", f"postgresql://user:pw-here@127.0.0.1:{closed}/db")
    line = one_line_error(result, 4, "connection: cannot reach postgresql://user:***@127.0.0.1:")
    assert "pw-here" not in result.stdout + line
    assert result.stdout.startswith("failed   connection")
