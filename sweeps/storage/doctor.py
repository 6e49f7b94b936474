"""`sweep doctor --storage URL`: can this storage keep a study, and can workers share it?

Four checks, each read-only: the connection (and how long a call takes), the schema (Optuna's
tables, as old as this Optuna expects), the server's persistence (a Redis with neither an
append-only file nor snapshots loses every study when it restarts; a PostgreSQL with fsync off
or a MySQL that flushes its log once a second may lose recent writes in a crash) and the clock
skew against the server (heartbeats compare clocks: machines whose clocks disagree by a minute
judge each other's trials lost).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from torchsweep.sweeps.storage import _engine_options, _timeouts, _with_driver, mask_password

if TYPE_CHECKING:
    import redis
    from sqlalchemy.engine import Connection, Engine

SKEW_WARNING = 5.0       # seconds of clock skew worth a warning
OK, WARN, FAIL = "ok", "warning", "failed"


@dataclass(frozen=True)
class Check:
    name: str       # connection | schema | persistence | clock
    status: str     # ok | warning | failed
    detail: str


def diagnose(url: str) -> list[Check]:
    """The checks of `url`; after a failed connection, only that one."""
    if "://" not in url:
        return _journal_file(Path(url))
    server = _Redis(url) if url.startswith(("redis://", "rediss://")) else _Database(url)
    try:
        seconds = server.connect()
    except Exception as error:
        from torchsweep.sweeps.storage import faults

        return [Check("connection", FAIL, f"cannot reach {mask_password(url)}: "
                                          f"{faults.first_line(error)}")]
    try:
        checks = [Check("connection", OK, f"{mask_password(url)} answered in "
                                          f"{seconds * 1000:.0f} ms"),
                  server.schema(), _persistence(server.persistence_problem()),
                  _clock(server.clock)]
    finally:
        server.close()
    return checks


def persistence_warning(url: str) -> str | None:
    """Why `url` may lose studies, for the one line said when a study is created there; None
    when it keeps them, or cannot be asked."""
    if "://" not in url or url.startswith("sqlite"):
        return None
    server = _Redis(url) if url.startswith(("redis://", "rediss://")) else _Database(url)
    try:
        server.connect()
        return server.persistence_problem()
    except Exception:   # the study was just created there: a refused question is no news
        return None
    finally:
        server.close()


def _journal_file(path: Path) -> list[Check]:
    if not path.is_file():
        return [Check("connection", FAIL, f"{path} does not exist (run `sweep run STUDY` first)")]
    return [Check("connection", OK, f"{path}: a journal file on this machine"),
            Check("schema", OK, "a journal: no schema to upgrade"),
            Check("persistence", OK, "written to disk"),
            Check("clock", OK, "one machine: no clocks to compare")]


def _persistence(problem: str | None) -> Check:
    return Check("persistence", WARN, problem) if problem else \
        Check("persistence", OK, "studies survive a restart of the server")


def _clock(server_time: Callable[[], float]) -> Check:
    before = time.time()
    then = server_time()
    after = time.time()
    skew = then - (before + after) / 2
    detail = (f"this machine's clock is {abs(skew):.2f} s {'behind' if skew > 0 else 'ahead of'} "
              f"the server's (measured within {after - before:.3f} s)")
    if abs(skew) > SKEW_WARNING:
        return Check("clock", WARN, f"{detail}: heartbeats compare clocks across machines; "
                                    f"synchronise them (NTP)")
    return Check("clock", OK, detail)


class _Database:
    """PostgreSQL, MySQL/MariaDB or SQLite, through SQLAlchemy as Optuna reaches it."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine | None = None
        self.connection: Connection | None = None

    def connect(self) -> float:
        """Seconds a call takes, connecting included."""
        import sqlalchemy

        self.engine = engine = sqlalchemy.create_engine(_with_driver(self.url),
                                                        **_engine_options(self.url))
        started = time.monotonic()
        self.connection = engine.connect()
        self._scalar("SELECT 1")
        return time.monotonic() - started

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        if self.engine is not None:
            self.engine.dispose()

    def _scalar(self, query: str) -> Any:
        import sqlalchemy

        assert self.connection is not None, "asked before it connected"
        return self.connection.execute(sqlalchemy.text(query)).scalar()

    @property
    def _dialect(self) -> str:
        assert self.engine is not None, "asked before it connected"
        return str(self.engine.dialect.name)

    def schema(self) -> Check:
        import sqlalchemy

        if not sqlalchemy.inspect(self.connection).has_table("alembic_version"):
            return Check("schema", OK, "no Optuna tables yet: the first `sweep run` or "
                                       "`sweep create` makes them")
        import optuna

        current = self._scalar("SELECT version_num FROM alembic_version")
        storage = optuna.storages.RDBStorage(_with_driver(self.url), skip_table_creation=True,
                                             skip_compatibility_check=True)
        try:
            head = storage.get_head_version()
            if current == head:
                return Check("schema", OK, f"Optuna's tables at {current}, as Optuna "
                                           f"{optuna.__version__} expects")
            if current in storage.get_all_versions():
                return Check("schema", FAIL, f"Optuna's tables at {current}, older than Optuna "
                                             f"{optuna.__version__}'s {head}: back them up, then "
                                             f"`optuna storage upgrade --storage URL`")
            return Check("schema", FAIL, f"Optuna's tables at {current}, newer than Optuna "
                                         f"{optuna.__version__} knows: pip install -U optuna")
        finally:
            storage.engine.dispose()

    def persistence_problem(self) -> str | None:
        if self._dialect == "postgresql" and self._scalar("SHOW fsync") == "off":
            return ("fsync is off: a crash of the server's machine may lose or corrupt the "
                    "studies in it")
        if self._dialect in ("mysql", "mariadb") and \
                str(self._scalar("SELECT @@innodb_flush_log_at_trx_commit")) == "0":
            return ("innodb_flush_log_at_trx_commit is 0: a crash of the server loses up to a "
                    "second of writes (finished trials among them)")
        return None

    def clock(self) -> float:
        query = {"postgresql": "SELECT EXTRACT(EPOCH FROM clock_timestamp())",
                 "mysql": "SELECT UNIX_TIMESTAMP(NOW(6))",
                 "mariadb": "SELECT UNIX_TIMESTAMP(NOW(6))"}.get(self._dialect)
        return float(self._scalar(query)) if query else time.time()


class _Redis:
    def __init__(self, url: str):
        self.url = url
        self.client: redis.Redis | None = None

    def connect(self) -> float:
        import redis

        from torchsweep.sweeps.storage import CONNECT_TIMEOUT, SERVER_TIMEOUT

        self.client = client = redis.Redis.from_url(self.url, **_timeouts(
            self.url, socket_timeout=SERVER_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT))
        started = time.monotonic()
        client.ping()
        return time.monotonic() - started

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def schema(self) -> Check:
        return Check("schema", OK, "a journal on Redis: no schema to upgrade")

    def persistence_problem(self) -> str | None:
        import redis

        try:
            appendonly = self._connected.config_get("appendonly").get("appendonly")
            save = self._connected.config_get("save").get("save")
        except redis.ResponseError:   # CONFIG renamed or refused (managed services)
            return None
        if appendonly == "yes" or (save or "").strip():
            return None
        return ("this Redis keeps neither an append-only file nor snapshots: a restart of the "
                "server loses every study in it; set `appendonly yes` in its configuration")

    def clock(self) -> float:
        seconds, microseconds = self._connected.time()
        return float(seconds + microseconds / 1e6)

    @property
    def _connected(self) -> redis.Redis:
        assert self.client is not None, "asked before it connected"
        return self.client
