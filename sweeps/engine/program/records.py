"""A program's W&B run, read as it is written: its history rows, summary and config.

The trial gave the program its run id, so its run file is known before it exists:
`<study>/wandb/*-<run id>/run-<run id>.wandb`. Once the file appears, W&B's own reader streams
its records (see tracking/_wandb.py) on a background thread; the trial loop takes the new
history rows as they come. The summary is merged from the run's summary records exactly as W&B
builds it, so a trial's value is the run summary's value of its metric, as W&B would use it.
"""
from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from torchsweep.sweeps.tracking import _wandb
from torchsweep.sweeps.tracking.wandb_runs import WANDB_FOLDER

_DRAIN = 5.0     # seconds to wait for the last records once the program has exited


class RunRecords:
    """The program's run, followed from the moment its file appears until `close()`."""

    def __init__(self, study_dir: Path, run_id: str):
        self._run_id = run_id
        self._folder = Path(study_dir) / WANDB_FOLDER
        self._rows: queue.Queue = queue.Queue()
        self._reader: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._ended = threading.Event()
        self.summary: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.keys: set[str] = set()   # every key the program logged

    def new_rows(self) -> list[dict[str, Any]]:
        """History rows written since the last call (starts following once the file exists)."""
        if self._reader is None:
            found = _wandb.run_file(self._folder, self._run_id)
            if found is None:
                return []
            self._reader = _wandb.follow_records(found)
            self._thread = threading.Thread(target=self._read, daemon=True,
                                            name=f"records-{self._run_id}")
            self._thread.start()
        rows = []
        while True:
            try:
                rows.append(self._rows.get_nowait())
            except queue.Empty:
                return rows

    def finish(self) -> list[dict[str, Any]]:
        """After the program exited: the rows not taken yet (those read since the last look
        too: a program that logs and exits within one look had every row there), then stop
        following."""
        rows = self.new_rows()
        if self._thread is not None:
            self._ended.wait(_DRAIN)   # the reader stops by itself at the run's exit record
        self.close()
        return rows + self.new_rows()

    def close(self) -> None:
        if self._reader is not None and self._reader.poll() is None:
            self._reader.kill()
            self._reader.wait()
        if self._thread is not None:
            self._thread.join(timeout=_DRAIN)

    def _read(self) -> None:
        assert self._reader is not None and self._reader.stdout is not None, "not following"
        for line in self._reader.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            kind = record.get("type")
            if kind == "history":
                row = _items(record["history"].get("item", {}))
                self.keys.update(key for key in row if not key.startswith("_"))
                self._rows.put(row)
            elif kind == "summary":
                self.summary.update(_items(record["summary"].get("update", {})))
                for key in record["summary"].get("remove", []) or []:
                    self.summary.pop(key, None)
            elif kind == "run":
                self.config.update(_config(record["run"].get("config", {})))
            elif kind == "config":
                self.config.update(_config(record["config"]))
            elif kind == "exit":
                break
        self._ended.set()


def _items(items: Any) -> dict[str, Any]:
    """A history or summary record's items as {key: value} (W&B writes either form)."""
    if isinstance(items, dict):
        return dict(items)
    return {item.get("key") or ".".join(item.get("nested_key", [])): _value(item)
            for item in items}


def _value(item: dict[str, Any]) -> Any:
    if "value_json" in item:
        return json.loads(item["value_json"])
    return item.get("value")


def _config(record: dict[str, Any]) -> dict[str, Any]:
    update = record.get("update", {})
    config = _items(update) if not isinstance(update, dict) else dict(update)
    config.pop("_wandb", None)
    return config
