"""Every checkpoint file operation lives here: atomic saves, safe loads, exports.

A checkpoint is data, never code: it holds only tensors and plain Python values, so it loads
with `torch.load(weights_only=True)`. The allow-list is exactly torch's weights-only set
(tensors, numbers, strings, containers): we add no globals. A file that names any other is
refused before it is unpickled, naming what it refers to, and we never fall back to unsafe
unpickling. (torch before 2.6 could run code even with weights_only=True, CVE-2025-32434;
the CLI refuses to start on it.)

A training run's folder holds `last.pt` (resume state, rewritten every epoch) and `best.pt`
(the state at the best epoch so far). Exports are safetensors plus the resolved config as JSON.
"""
from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from torchsweep.trainer.atomic import write_atomic, write_json_atomic
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.errors import CheckpointError
from torchsweep.trainer.files import BEST, EXPORT_CONFIG, EXPORT_WEIGHTS, LAST

FORMAT_VERSION = 1


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """torch.save through the one atomic writer: readers see the old checkpoint or the new one,
    never half of one, and a full disk leaves the old one intact."""
    write_atomic(path, lambda file: torch.save(payload, file))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint as data only; raise CheckpointError with one line otherwise."""
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


def capture_rng() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA) as plain values and tensors."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def export_model(checkpoint_path: Path, directory: Path) -> Path:
    """Write the checkpoint's weights as safetensors and its config as JSON into `directory`."""
    from safetensors.torch import save

    from torchsweep.trainer.models import strip_wrapper_prefixes

    payload = load_checkpoint(checkpoint_path)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {key: tensor.contiguous().clone()
               for key, tensor in strip_wrapper_prefixes(payload["model"]).items()}
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
