"""The one owner of checkpoint files: each run folder's last.pt and best.pt, a study's kept ones.

`Checkpoints(folder)` is a run folder's checkpoints, as timm's `CheckpointSaver` owns its
last, best and recovery files with one comparator (`improved`). The folder holds `last.pt`
(resume state, rewritten every epoch) and `best.pt` (the state at the best epoch so far). The
training loop saves through it; a study's retention, repeats, retries, artifact store and
export ask it to keep, drop, find, move or export files, and decide only which trials they
mean (the study's top k stays in sweeps/engine/retention.py). No other module names these files,
deletes or copies them (tests/test_checkpoint_owner.py holds the source tree to that).

A checkpoint is data, never code: it holds only tensors and plain Python values, so it loads
with `torch.load(weights_only=True)`. The allow-list is exactly torch's weights-only set
(tensors, numbers, strings, containers): we add no globals. A file that names any other is
refused before it is unpickled, naming what it refers to, and we never fall back to unsafe
unpickling. (torch before 2.6 could run code even with weights_only=True, CVE-2025-32434;
the CLI refuses to start on it.)

Exports are safetensors plus the resolved config as JSON. Torch is imported when a file is
read or written, not with this module: a program study's retention needs none.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import warnings
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from torchsweep.trainer.atomic import write_atomic, write_json_atomic
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import CheckpointError
from torchsweep.trainer.files import BEST, EXPORT_CONFIG, EXPORT_WEIGHTS, LAST
from torchsweep.trainer.goal import Goal

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1
USER_STATE = "user_state"   # a function trial's own state, in its last.pt


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """torch.save through the one atomic writer: readers see the old checkpoint or the new one,
    never half of one, and a full disk leaves the old one intact."""
    import torch

    write_atomic(path, lambda file: torch.save(payload, file))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint as data only; raise CheckpointError with one line otherwise."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    code = _globals_beyond_data(path)
    if code:
        raise CheckpointError(f"cannot load checkpoint {path}: it refers to {', '.join(code)}, "
                              f"which is code, not data (refused as unsafe)")
    try:
        with warnings.catch_warnings():
            # A pickle torch.save did not write makes torch warn about its protocol before it
            # refuses or reads the file; what the user needs is the one line below, or nothing.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or hostile files
        # The first sentence: torch follows it with paragraphs of advice.
        detail = str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() \
            else type(error).__name__
        reason = f"the file is truncated or not a checkpoint ({detail})"
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            reason = "it holds Python objects beyond tensors and plain values (refused as unsafe)"
        raise CheckpointError(f"cannot load checkpoint {path}: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"cannot load checkpoint {path}: not a sweep checkpoint "
                              f"(format_version {FORMAT_VERSION} expected)")
    return payload


def _globals_beyond_data(path: Path) -> list[str]:
    """The Python globals the file's pickle names beyond torch's weights-only allow-list, read
    without unpickling. Files torch.save did not write as a zip archive (legacy format, plain
    pickle, truncated) give none here; torch.load(weights_only=True) judges those."""
    import torch

    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # what it cannot read, torch.load will refuse with its own reason
        return []


def newest_valid(directory: Path) -> dict[str, Any] | None:
    """The valid checkpoint in `directory` with the highest epoch, or None when none loads."""
    newest = _newest_valid_path(Path(directory))
    return newest[1] if newest else None


def _newest_valid_path(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    candidates = []
    for path in (directory / LAST, directory / BEST):
        try:
            candidates.append((path, load_checkpoint(path)))
        except CheckpointError:
            continue
    return max(candidates, key=lambda found: found[1]["epoch"], default=None)


class ResumePoint(NamedTuple):
    path: Path          # the checkpoint to resume from
    epoch: int          # the epoch it was saved at
    note: str | None    # why it is not the one asked for; None when it is


def resume_point(path: Path) -> ResumePoint:
    """The checkpoint to resume from: `path` itself when it loads; else the newest valid
    last.pt or best.pt in its folder (a truncated last.pt falls back to best.pt), with a note
    saying why. With none valid it raises: a resume that was asked for never silently starts
    afresh.
    """
    path = Path(path)
    try:
        return ResumePoint(path, load_checkpoint(path)["epoch"], None)
    except CheckpointError as error:
        problem = str(error)
    fallback = _newest_valid_path(path.parent)
    if fallback is None:
        raise CheckpointError(f"{problem}; no valid {LAST} or {BEST} in {path.parent} to "
                              f"resume from either")
    found, payload = fallback
    return ResumePoint(found, payload["epoch"],
                       f"{problem}; resuming from {found} (epoch {payload['epoch']}) instead")


def improved(value: float, best: float | None, goal: Goal) -> bool:
    """The one comparator: whether `value` makes a new best epoch over `best` (None: no epoch
    yet) for a metric with this goal. A value that is not finite never does."""
    if not math.isfinite(value):
        return False
    return best is None or goal.better(value, best)


class Outcome(Enum):
    """How the run in a folder ended, which decides what its folder keeps."""
    FINISHED = "finished"      # completed, pruned or diverged: it never resumes again
    FAILED = "failed"          # stopped or crashed: a retry may resume from its last.pt
    SUPERSEDED = "superseded"  # failed, and a retry that resumed from it has finished


class Checkpoints:
    """The checkpoint files of one run folder (a `sweep train` run, a study's trial), and every
    operation on them. A program study's trial folder is its checkpoint as a whole: its
    program saved what it saved there, so such a folder is only removed or copied whole."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def last(self) -> Path:
        """The resume state, rewritten after every epoch."""
        return self.folder / LAST

    @property
    def best(self) -> Path:
        """The state at the best epoch so far: what a study keeps and exports."""
        return self.folder / BEST

    def paths(self) -> dict[str, str]:
        """Each checkpoint file by its name (saved or not), as `sweep train --json` shows them."""
        return {LAST: str(self.last), BEST: str(self.best)}

    def save(self, state: dict[str, Any]) -> None:
        """Write the training state as last.pt, and as best.pt too when its epoch is its best
        one (the loop decides that with `improved`)."""
        save_atomic(state, self.last)
        if state["best_epoch"] == state["epoch"]:
            save_atomic(state, self.best)

    def save_state(self, state: Any) -> None:
        """A user's own training state (a function trial's `save_checkpoint`) as last.pt, at the
        `epoch` it names (0 when it names none). Data only, as every checkpoint here."""
        epoch = state.get("epoch") if isinstance(state, dict) else None
        save_atomic({"format_version": FORMAT_VERSION, USER_STATE: state,
                     "epoch": epoch if isinstance(epoch, int) else 0}, self.last)

    def load_state(self) -> Any:
        """What `save_state` wrote last, or None when the folder holds none; CheckpointError,
        in one line, when last.pt does not load."""
        if not self.last.is_file():
            return None
        payload = load_checkpoint(self.last)
        if USER_STATE not in payload:
            raise CheckpointError(f"{self.last} was saved by the trainer, not by save_checkpoint")
        return payload[USER_STATE]

    def any_saved(self) -> bool:
        return self.last.is_file() or self.best.is_file()

    def kept(self) -> Path | None:
        """best.pt, when the folder still holds it."""
        return self.best if self.best.is_file() else None

    def resume_point(self) -> ResumePoint | None:
        """Where a run in this folder continues: as `resume_point(last.pt)` picks it; None when
        the folder holds neither file. Raises CheckpointError when none of them loads."""
        return resume_point(self.last) if self.any_saved() else None

    def open_last(self) -> BinaryIO:
        """last.pt opened for reading, to be copied elsewhere as it is (an artifact store)."""
        return open(self.last, "rb")

    def restore_last(self, source: BinaryIO) -> None:
        """Write last.pt from a copy (an artifact store's), atomically: a retry never finds
        half of one."""
        write_atomic(self.last, lambda target: shutil.copyfileobj(source, target))

    def retain(self, *, top: bool, outcome: Outcome) -> None:
        """Keep what the folder is still needed for and delete the rest: best.pt while its run
        is among a study's top ones (exported and logged from there), last.pt while a retry may
        resume from it."""
        if not top:
            self.best.unlink(missing_ok=True)
        if outcome is not Outcome.FAILED:
            self.last.unlink(missing_ok=True)

    def discard(self) -> None:
        """Delete both files: a run whose weights nobody takes (a repeat's other seed, a
        confirmation run), which keeps its metrics only."""
        self.retain(top=False, outcome=Outcome.FINISHED)

    def remove(self) -> None:
        """Delete the whole folder: a program study's trial that nothing needs any more."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def copy_to(self, directory: Path) -> None:
        """Copy the whole folder into `directory`: a program study's trial, exported."""
        shutil.copytree(self.folder, directory, dirs_exist_ok=True)


def capture_rng() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA) as plain values and tensors."""
    import numpy as np
    import torch

    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def restore_rng(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def export_model(checkpoint_path: Path, directory: Path) -> Path:
    """Write the checkpoint's weights as safetensors and its config as JSON into `directory`."""
    from safetensors.torch import save
    from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

    payload = load_checkpoint(checkpoint_path)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = dict(payload["model"])
    # A model saved wrapped: torch.compile's `_orig_mod.` and DataParallel's or DDP's
    # `module.`, in either order (`module._orig_mod.` when DDP wraps a compiled model).
    for prefix in ("_orig_mod.", "module.", "_orig_mod."):
        consume_prefix_in_state_dict_if_present(state, prefix)
    weights = {key: tensor.contiguous().clone() for key, tensor in state.items()}
    metadata = {"input_shape": json.dumps(list(payload["input_shape"])),
                "num_classes": str(payload["num_classes"]), "epoch": str(payload["epoch"])}
    # As bytes through the atomic writer: safetensors' own save_file leaves a 0600 file.
    encoded = save(weights, metadata=metadata)
    write_atomic(directory / EXPORT_WEIGHTS, lambda file: file.write(encoded))
    write_json_atomic(directory / EXPORT_CONFIG, payload["config"])
    return directory / EXPORT_WEIGHTS


def load_exported_model(directory: Path) -> tuple[torch.nn.Module, TrainConfig, tuple[int, ...]]:
    """Rebuild the model that `export_model` wrote: the model in eval mode, its config, and the
    shape of one input sample (a batch of one is `torch.zeros(1, *input_shape)`)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from torchsweep.trainer.models import build_model

    directory = Path(directory)
    weights_path, config_path = directory / EXPORT_WEIGHTS, directory / EXPORT_CONFIG
    if not weights_path.is_file():
        # Told apart, so that the command that made an export is not suggested to redo it.
        if directory.is_dir() and any(directory.iterdir()):
            raise CheckpointError(f"{directory} holds no {EXPORT_WEIGHTS}: it is not the export "
                                  "of a trainer model (a `program:` study's export is a copy of "
                                  "what the program saved, which the program itself loads)")
        raise CheckpointError(f"{weights_path} is missing; export with `sweep best STUDY "
                              "--export DIR`")
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} is missing beside {EXPORT_WEIGHTS}: the export "
                              "is incomplete; export it again with `sweep best STUDY --export DIR`")
    config = TrainConfig.from_dict(json.loads(config_path.read_text()))
    with safe_open(str(weights_path), framework="pt") as file:
        metadata = file.metadata()
    input_shape = tuple(json.loads(metadata["input_shape"]))
    model = build_model(config, input_shape, int(metadata["num_classes"]))
    model.load_state_dict(load_file(str(weights_path)))
    return model.eval(), config, input_shape
