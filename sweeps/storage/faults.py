"""What a storage's error means: a connection that will come back (retry it) or a refusal
(report it), and the two driver settings that let the engine be the only one to retry.

Optuna wraps a database's errors in its StorageInternalError and lets redis-py's through, so
the driver's error is looked for along the exception's chain. Transient: the server or the
network went away (refused, reset, closed, timed out), the server is starting, stopping or in
recovery, a failover left a read-only replica, or the database rolled the transaction back
(deadlock, serialization failure: redoing it is safe). A refusal (authentication, a missing
database, a permission) is never retried: waiting does not mend it.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine, ExceptionContext

# Words of the refusals that reach us as "operational" errors too (libpq, MySQL, MariaDB).
_REFUSALS = ("authentication", "password", "access denied", "does not exist",
             "unknown database", "pg_hba.conf", "permission denied")


class ConnectionLost(Exception):
    """The connection to a database server dropped while a statement or its commit was in
    flight. Not an SQLAlchemy error on purpose: Optuna's RDB storage redoes a failed trial
    creation itself, blindly, and a commit that landed before the drop would then create the
    trial twice; this error passes through that loop to the engine, which checks first."""


def is_transient(error: BaseException) -> bool:
    """A connection that will come back; never one a signal broke (see `interruption`)."""
    return interruption(error) is None and any(_transient(cause) for cause in _chain(error))


def interruption(error: BaseException) -> BaseException | None:
    """The Ctrl+C or stop signal (a BaseException beyond Exception) that broke a storage call,
    when the driver raised its own error on top of it: the signal is what happened, and it must
    reach the engine, not be retried as an outage."""
    return next((cause for cause in _chain(error) if not isinstance(cause, Exception)), None)


def is_setup_race(error: BaseException) -> bool:
    """Another process made Optuna's tables in a new database a moment ago, while this one did
    (PostgreSQL: a duplicate key in pg_type; MySQL: a table that already exists): opening
    again finds them made."""
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy is None or not isinstance(error, sqlalchemy.DBAPIError):
        return False
    text = str(error).lower()
    return "already exists" in text or "duplicate key" in text


def is_driver_error(error: BaseException) -> bool:
    """An error of the database or its driver, rather than Optuna's answer about a study."""
    import optuna

    kinds = [optuna.exceptions.StorageInternalError]
    for module, name in (("sqlalchemy.exc", "SQLAlchemyError"), ("redis.exceptions", "RedisError")):
        if module in sys.modules:
            kinds.append(getattr(sys.modules[module], name))
    return isinstance(error, tuple(kinds))


def first_line(error: BaseException) -> str:
    """The driver's own words, one line (the deepest cause says most)."""
    for cause in reversed(list(_chain(error))):
        text = str(cause).strip()
        if text:
            return text.splitlines()[0]
    return type(error).__name__


def raise_lost_connections(engine: Engine) -> None:
    """Make an SQLAlchemy engine raise `ConnectionLost` when its connection drops (the server
    restarted, the network cut it). The pool's own ping of an idle connection is left alone:
    the pool replaces that connection itself."""
    from sqlalchemy import event

    def lost(context: ExceptionContext) -> None:
        if context.is_disconnect and not context.is_pre_ping:
            raise ConnectionLost(first_line(context.original_exception))

    event.listen(engine, "handle_error", lost)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _transient(error: BaseException) -> bool:
    if isinstance(error, ConnectionLost):
        return True
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy is not None and isinstance(error, sqlalchemy.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, (sqlalchemy.OperationalError, sqlalchemy.InterfaceError)):
            return not _refusal(error)
        return False
    redis = sys.modules.get("redis.exceptions")
    if redis is not None and isinstance(error, redis.RedisError):
        if isinstance(error, _kinds(redis, "AuthenticationError", "AuthorizationError")):
            return False
        # A failover: a replica refusing writes, or a primary not elected yet.
        return isinstance(error, _kinds(redis, "ConnectionError", "TimeoutError", "ReadOnlyError",
                                        "MasterDownError", "TryAgainError"))
    # The standard library's: refused, reset, aborted, timed out.
    return isinstance(error, (ConnectionError, TimeoutError))


def _kinds(module: ModuleType, *names: str) -> tuple[type, ...]:
    """The error classes of `names` that this version of the driver has."""
    return tuple(getattr(module, name) for name in names if hasattr(module, name))


def _refusal(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in _REFUSALS)
