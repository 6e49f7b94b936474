"""The training core: `fit(TrainConfig(...)) -> FitResult`, and the checkpoint loaders.

Knows nothing of Optuna, sweeps or the CLI. Torch is imported only when a name that needs
it is first used, so `from trainer.config import TrainConfig` stays cheap.
"""
from importlib import import_module

from trainer.config import EPOCH_METRICS, TrainConfig
from trainer.errors import CheckpointError, ConfigError, DataError

_LAZY = {
    "fit": "trainer.loop",
    "FitResult": "trainer.loop",
    "load_checkpoint": "trainer.checkpoint",
    "load_exported_model": "trainer.checkpoint",
    "export_model": "trainer.checkpoint",
}

__all__ = ["TrainConfig", "ConfigError", "DataError", "CheckpointError", "EPOCH_METRICS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
