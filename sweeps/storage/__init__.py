"""Where studies live: the embedded default under the root folder, or any Optuna storage URL.

The embedded default is Optuna's journal file (`<root>/optuna.journal`): one append-only
file that several local worker processes can share through file locks, where SQLite would
report "database is locked". Database URLs (postgresql://, mysql://, sqlite:///) go to
Optuna's RDB storage; redis:// to its journal backend on Redis. PostgreSQL, MySQL/MariaDB and
Redis serve workers on many machines; the journal file serves the processes of one machine.
Every storage is opened as a `resilient.ResilientStorage`, which rides out a server's restart
or a network's blip (`faults` says which errors those are).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from torchsweep.sweeps.errors import StorageError

EMBEDDED_FILE = "optuna.journal"
DEFAULT_GRACE = 120.0     # seconds a worker waits for an unreachable storage (--storage-grace)
# A command that only looks at a study (show, best, report, list, dashboard) has a person
# waiting for its answer: it says the storage is unreachable after a short wait instead.
LOOK_GRACE = 10.0
ROOT_ENV = "SWEEP_ROOT"
STORAGE_ENV = "SWEEP_STORAGE"


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "runs"))


def storage_url(root: Path, storage: str | None) -> str:
    """The URL a study uses: the one given (or from SWEEP_STORAGE), else the embedded file."""
    storage = storage or os.environ.get(STORAGE_ENV)
    return storage or str(Path(root) / EMBEDDED_FILE)


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`, and the same for
    a `password=` query parameter. Masks up to the last '@', so a password holding one is
    hidden whole."""
    url = re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


def open_storage(url: str, *, create: bool, grace: float = DEFAULT_GRACE,
                 looking: bool = False):
    """An Optuna storage for `url`, which retries what a lost connection interrupts for up to
    `grace` seconds (see `resilient`), opening included; `looking`: for a command that only
    reads the study, whose messages name no worker's option. With create=False a missing embedded
    file is an error, so that looking at a study never leaves an empty storage behind."""
    from torchsweep.sweeps.storage.resilient import opened

    if _SCHEME_WITHOUT_SLASHES.match(url):
        raise StorageError(f"malformed storage URL {mask_password(url)}: expected SCHEME://..., "
                           f"e.g. postgresql://user:password@host/db, sqlite:///file.db or "
                           f"redis://host, or the path of a journal file")
    try:
        return opened(lambda: _open(url, create), mask_password(url), grace, looking)
    except StorageError:
        raise
    except Exception as error:  # drivers raise their own types; one line is what a user needs
        raise StorageError(f"cannot open storage {mask_password(url)}: "
                           f"{_reason(error, url)}") from None


def _open(url: str, create: bool):
    import optuna

    from torchsweep.sweeps.storage import faults

    if url.startswith("redis://") or url.startswith("rediss://"):
        from optuna.storages.journal import JournalStorage

        return JournalStorage(_redis_backend(url))
    if "://" in url:
        if not create:
            _require_sqlite_file(url)
        storage = optuna.storages.RDBStorage(_with_driver(url), engine_kwargs=_engine_options(url))
        faults.raise_lost_connections(storage.engine)
        # Optuna's cache of finished trials, which `optuna.load_study(storage=RDBStorage)`
        # would add itself.
        return optuna.storages.get_storage(storage)
    path = Path(url)
    if not create and not path.is_file():
        raise StorageError(f"no studies yet: {path} does not exist (run `sweep run STUDY` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    _require_complete_last_entry(path)
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except (ValueError, LookupError, TypeError, AssertionError) as error:  # replaying it
        first_line = (str(error).strip().splitlines() or [""])[0]
        replay = f"Optuna cannot replay it: {type(error).__name__} {first_line}"
        raise StorageError(_corrupt_journal(path, replay)) from None


def _redis_backend(url: str):
    """Optuna's Redis journal, with a client that never retries by itself: redis-py redoes a
    command whose reply was lost, and a journal entry appended twice is a trial created twice.
    The engine retries instead, checking first (`resilient`). Timeouts bound a call to a
    network that drops packets, so that the grace can be counted."""
    import optuna
    import redis
    from optuna.storages.journal import JournalRedisBackend
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    with warnings.catch_warnings():
        # Optuna labels its Redis backend experimental; that is noise to a user.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = JournalRedisBackend(url)
    if not hasattr(backend, "_redis"):   # Optuna's private client, replaced below
        raise RuntimeError(f"Optuna {optuna.__version__}'s JournalRedisBackend has no _redis, "
                           f"which torchsweep's sweeps/storage/__init__.py replaces")
    backend._redis = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0),
                                          **_timeouts(url, socket_timeout=SERVER_TIMEOUT,
                                                      socket_connect_timeout=CONNECT_TIMEOUT))
    return backend


# SQLAlchemy picks one driver per bare scheme (psycopg 3 for postgresql://, mysqlclient for
# mysql://); people write the bare scheme and have whichever driver they installed.
_DRIVERS = {"postgresql": ("psycopg", "psycopg2"), "postgres": ("psycopg", "psycopg2"),
            "mysql": ("MySQLdb", "pymysql")}
_DIALECTS = {"psycopg": "psycopg", "psycopg2": "psycopg2", "MySQLdb": "mysqldb",
             "pymysql": "pymysql"}


def _with_driver(url: str) -> str:
    scheme, rest = url.split("://", 1)
    installed = [m for m in _DRIVERS.get(scheme, ()) if importlib.util.find_spec(m) is not None]
    if not installed:
        return url
    dialect = "postgresql" if scheme == "postgres" else scheme
    return f"{dialect}+{_DIALECTS[installed[0]]}://{rest}"


# Seconds to connect, and for a server to answer a connected call: a network that drops
# packets would otherwise hang a call for many minutes, past any grace.
CONNECT_TIMEOUT = 10
SERVER_TIMEOUT = 60


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Several workers on one SQLite file wait for its lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    if url.startswith("postgres"):
        # libpq's keepalives notice a server that vanished without closing the connection.
        timeouts = _timeouts(url, connect_timeout=CONNECT_TIMEOUT, keepalives=1,
                             keepalives_idle=SERVER_TIMEOUT // 2, keepalives_interval=5,
                             keepalives_count=3)
    elif url.startswith("mysql"):
        timeouts = _timeouts(url, connect_timeout=CONNECT_TIMEOUT, read_timeout=SERVER_TIMEOUT,
                             write_timeout=SERVER_TIMEOUT)
    else:
        timeouts = {}
    # Workers live for hours: a connection the server or a proxy dropped is replaced, not used.
    return {"pool_pre_ping": True, "connect_args": timeouts}


def _timeouts(url: str, **defaults) -> dict:
    """`defaults`, less those the URL's query sets itself."""
    from urllib.parse import parse_qs

    given = parse_qs(urlsplit(url).query)
    return {name: value for name, value in defaults.items() if name not in given}


# `postgres:/host/db` or `sqlite:file.db`: a URL missing its slashes, which would otherwise be
# taken for a journal file's path. Two letters at least, so `C:\runs` stays a path.
_SCHEME_WITHOUT_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:(?!//)")


def _reason(error: Exception, url: str) -> str:
    """What is wrong with the storage, in one line that never holds its password."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    text = str(error)
    older = re.search(r"set up by optuna ([^)]*)\).*storage upgrade", text)
    if older:
        return (f"its tables were written by Optuna {older[1]}, an older schema; upgrade them "
                f"with `optuna storage upgrade --storage {mask_password(url)}` (back it up first)")
    if "pip install -U optuna" in text:
        return "its tables were written by a newer Optuna; upgrade this one (pip install -U optuna)"
    if isinstance(error, NoSuchModuleError):
        return (f"unknown scheme '{url.partition('://')[0]}'; use postgresql://, "
                f"mysql+pymysql://, sqlite:/// or redis://")
    if isinstance(error, ImportError) and isinstance(error.__cause__, ModuleNotFoundError):
        return (f"its database driver is not installed (no module named "
                f"'{error.__cause__.name}'); install it, or name an installed driver in the URL "
                f"(e.g. postgresql+psycopg2://)")
    first_line = (text.strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, (ArgumentError, ValueError)):
        first_line = f"malformed URL ({first_line})"
    return _without_password(first_line, url)


def _without_password(text: str, url: str) -> str:
    """`text` with the URL's password masked, should a driver quote it (as a whole word, so
    that a short password does not garble the rest)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if not password:
        return text
    return re.sub(rf"(?<!\w){re.escape(password)}(?!\w)", "***", text)


def _require_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create an empty one: looking must not do that."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # RDBStorage reports a malformed URL with its own words
        return
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        raise StorageError(f"no studies yet: {parsed.database} does not exist "
                           f"(run `sweep run STUDY --storage {mask_password(url)}` first)")


def _require_complete_last_entry(path: Path) -> None:
    """Refuse a journal whose last line is complete but is not a log entry.

    Optuna skips an unreadable last line as an entry another process is still writing, and
    appends after it, after which the file can no longer be read at all. A line that already
    ends in a newline is finished: if it is not a JSON object, the file is corrupt.
    """
    if not path.is_file():
        return
    line = _last_line(path)
    if not line.endswith(b"\n"):
        return
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        raise StorageError(_corrupt_journal(path, "its last line is not a JSON log entry"))


def _last_line(path: Path) -> bytes:
    """The file's last line, with its newline if it has one, read from the end."""
    with open(path, "rb") as file:
        end, size = file.seek(0, os.SEEK_END), 4096
        while True:
            start = max(end - size, 0)
            file.seek(start)
            tail = file.read()
            newline = tail.rfind(b"\n", 0, len(tail) - 1)
            if newline >= 0 or start == 0:
                return tail[newline + 1:]
            size *= 4


def _corrupt_journal(path: Path, detail: str) -> str:
    return (f"storage {path} is corrupt ({detail}); move it aside and restore a backup, or "
            f"start afresh with another --root")
