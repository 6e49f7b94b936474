"""Where studies live: the embedded default under the root folder, or any Optuna storage URL.

The embedded default is Optuna's journal file (`<root>/optuna.journal`): one append-only
file that several local worker processes can share through file locks, where SQLite would
report "database is locked". Database URLs (postgresql://, mysql+pymysql://, sqlite:///)
go to Optuna's RDB storage; redis:// to its journal backend on Redis.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from sweeps.errors import StorageError

EMBEDDED_FILE = "optuna.journal"
ROOT_ENV = "SWEEP_ROOT"
STORAGE_ENV = "SWEEP_STORAGE"


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "runs"))


def storage_url(root: Path, storage: str | None) -> str:
    """The URL a study uses: the one given (or from SWEEP_STORAGE), else the embedded file."""
    storage = storage or os.environ.get(STORAGE_ENV)
    return storage or str(Path(root) / EMBEDDED_FILE)


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def open_storage(url: str, *, create: bool):
    """An Optuna storage for `url`. With create=False a missing embedded file is an error, so
    that looking at a study never leaves an empty storage behind."""
    import optuna

    try:
        if url.startswith("redis://") or url.startswith("rediss://"):
            from optuna.storages.journal import JournalRedisBackend, JournalStorage

            return JournalStorage(JournalRedisBackend(url))
        if "://" in url:
            return optuna.storages.RDBStorage(url)
        path = Path(url)
        if not create and not path.is_file():
            raise StorageError(f"no studies yet: {path} does not exist (run `sweep run STUDY` first)")
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    except StorageError:
        raise
    except Exception as error:  # drivers raise their own types; one line is what a user needs
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise StorageError(f"cannot open storage {mask_password(url)}: {first_line}") from None
