"""The one way files are written: atomically, so a reader sees the old file or the new one.

Every output that replaces an earlier one (checkpoints, configs, exports, reports, a study's
saved study.yaml) goes through `write_atomic`: the bytes go to a temporary file in the same
folder, which is flushed to disk and renamed over the target, and the rename itself is made
durable. A crash, a full disk or a read-only folder leaves the previous file intact and raises
`WriteError` with one line. Torch-free.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable

from torchsweep.trainer.errors import WriteError


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = _temporary_beside(path)
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if (failed_write := _os_error(error)) is not None:
            raise _write_error(path, failed_write) from None
        raise
    _fsync_directory(path.parent)


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new file next to `path`, open for writing, with the mode any new file gets here
    (0o666 less the umask), as a plain open() would give it: mkstemp's private 0o600 would
    stay on the renamed file, and a report meant for a file share would be unreadable."""
    for _ in range(10):   # a clash of 48 random bits is retried, never overwritten
        temp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(path.parent))


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _os_error(error: BaseException) -> OSError | None:
    """The OSError behind `error`, if any: torch's zip writer reports a write that failed (a
    full disk) as a RuntimeError ("unexpected pos") raised while handling the OSError."""
    link: BaseException | None = error
    for _ in range(8):  # a chain is short; a bound keeps a cyclic one from looping
        if link is None or isinstance(link, OSError):
            return link
        link = link.__cause__ or link.__context__
    return None


def _write_error(path: Path, error: OSError) -> WriteError:
    return WriteError(f"could not write {path}: {error.strerror or error}; the previous "
                      f"{path.name}, if any, is unchanged")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some file systems do not allow opening a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
