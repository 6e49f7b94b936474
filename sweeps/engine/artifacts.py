"""Checkpoints that follow a trial across machines: its last.pt in an Optuna artifact store.

A retry resumes from its failed attempt's last.pt under --root, which another machine only has
when --root is shared. With `--artifacts URL` the checkpoint travels through a store instead:
after every epoch the trial's last.pt is written to the store under a new id, the trial's
`last_artifact` attribute is pointed at it, and the previous epoch's copy is removed. The
attribute moves only once the upload is complete, so a retry never downloads half a file. A
retry whose failed attempts left no checkpoint on its machine downloads the newest one into the
failed attempt's folder, where `retries.resume_point` finds it as if it had been written there.

URL: a folder (`optuna.artifacts.FileSystemArtifactStore`, shared by the machines), or
`s3://BUCKET[/PREFIX]` (`optuna.artifacts.Boto3ArtifactStore`; credentials as boto3 finds them,
an S3-compatible server's address from AWS_ENDPOINT_URL).
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Callable

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine._optuna import frozen
from torchsweep.sweeps.engine.signals import shielded
from torchsweep.sweeps.errors import StorageError
from torchsweep.trainer.checkpoint import Checkpoints


class Artifacts:
    """An Optuna artifact store, with the ids of this project's checkpoints under `prefix`."""

    def __init__(self, store: Any, prefix: str = "") -> None:
        self.store, self.prefix = store, prefix

    def uploader(self, trial: optuna.Trial, root: Path, folder: str) -> Callable[[dict], bool]:
        """An epoch callback for `fit`: upload the last.pt it just wrote (never stops it)."""
        def upload(metrics: dict[str, float]) -> bool:
            epoch = int(metrics["epoch"])
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{folder}-e{epoch}-{uuid.uuid4().hex[:8]}.pt")
            # Shielded: a preemption between moving the attribute and removing the copy before
            # would leave two copies of the trial in the store.
            with shielded(), Checkpoints(Path(root) / folder).open_last() as checkpoint:
                self.store.write(self.prefix + name, checkpoint)
                previous = attrs.last_artifact(frozen(trial))
                attrs.record_last_artifact(trial, folder, self.prefix + name, epoch)
                if previous is not None:
                    self.store.remove(previous["id"])
            return False
        return upload

    def fetch_for_retry(self, trial: optuna.Trial, root: Path) -> None:
        """Download the newest checkpoint of the failed attempts this retry continues, unless
        one of them is on this machine already (a shared --root)."""
        history = set(attrs.retry_history(frozen(trial)))
        if not history:
            return
        attempts = [t for t in trial.study.get_trials(deepcopy=False) if t.number in history]
        for attempt in sorted(attempts, key=lambda t: t.number, reverse=True):
            folder = attrs.trial_dir(attempt)
            if folder and Checkpoints(Path(root) / folder).any_saved():
                return
            uploaded = attrs.last_artifact(attempt)
            if uploaded is not None:
                with self.store.open_reader(uploaded["id"]) as source:
                    Checkpoints(Path(root) / uploaded["dir"]).restore_last(source)
                return


def open_artifacts(url: str) -> Artifacts:
    """The store at `url`; refuses one that cannot be used, before anything is written."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise StorageError(f"--artifacts {url}: no bucket; expected s3://BUCKET or s3://BUCKET/PREFIX")
        try:
            from optuna.artifacts import Boto3ArtifactStore

            store = Boto3ArtifactStore(bucket)
        except ImportError:
            raise StorageError(f"--artifacts {url}: boto3 is not installed; pip install "
                               "boto3") from None
        return Artifacts(store, prefix.strip("/") + "/" if prefix.strip("/") else "")
    if "://" in url:
        raise StorageError(f"--artifacts {url}: unknown scheme; give a folder (shared by the "
                           "machines) or s3://BUCKET/PREFIX")
    folder = Path(url)
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"--artifacts {url}: not a folder")
    from optuna.artifacts import FileSystemArtifactStore

    return Artifacts(_CreatingFolder(FileSystemArtifactStore(folder), folder))


class _CreatingFolder:
    """A filesystem store whose folder is made on the first write, not when it is named."""

    def __init__(self, store: Any, folder: Path) -> None:
        self._store, self._folder = store, folder

    def write(self, artifact_id: str, content: Any) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._store.write(artifact_id, content)

    def open_reader(self, artifact_id: str):
        return self._store.open_reader(artifact_id)

    def remove(self, artifact_id: str) -> None:
        self._store.remove(artifact_id)
