"""The one way files are written: atomically, so a reader sees the old file or the new one.

Every output that replaces an earlier one (checkpoints, configs, exports, reports, a study's
saved study.yaml) goes through `write_atomic`: the bytes go to a temporary file in the same
folder, which is flushed to disk and renamed over the target, and the rename itself is made
durable. A crash, a full disk or a read-only folder leaves the previous file intact and raises
`WriteError` with one line. Torch-free.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

from torchsweep.trainer.errors import WriteError


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _os_error(error: BaseException) -> OSError | None:
    """The OSError behind `error`, if any: torch's zip writer reports a write that failed (a
    full disk) as a RuntimeError ("unexpected pos") raised while handling the OSError."""
    for _ in range(8):  # a chain is short; a bound keeps a cyclic one from looping
        if error is None or isinstance(error, OSError):
            return error
        error = error.__cause__ or error.__context__
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
