"""A PostgreSQL cluster of a test's own, which the test stops and starts: initdb in a temporary
folder, its own port, never the machine's server at 5432. Its server programs come with
Debian's `postgresql` package (.ci/services installs it); initdb refuses root, so as root they
run as the `postgres` user."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from needs import needs

# Any password: trust authentication ignores it, and a test sees that it is masked.
PASSWORD = "s3cret-pw"


class PrivatePostgres:
    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        needs(bool(found), "PostgreSQL's server programs (apt-get install postgresql)")
        self._bin = Path(found[-1]).parent
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.folder = Path(tempfile.mkdtemp(prefix="sweep-postgres-"))
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
        self.port = _free_port()
        self.url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", self.folder / "data", "-A", "trust", "-U", "postgres",
                  "--no-sync", "--no-instructions")
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.folder / "data", "-l", self.folder / "log", "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        """As a crash or a failover stops it: at once, its clients cut off."""
        self._run("pg_ctl", "-D", self.folder / "data", "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new, empty database: Optuna has not made its tables there yet. Its URL."""
        import psycopg2

        connection = psycopg2.connect(self.url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        subprocess.run([*self._as_postgres, self._bin / "pg_ctl", "-D", self.folder / "data",
                        "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args) -> None:
        done = subprocess.run([*self._as_postgres, self._bin / program, *map(str, args)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
