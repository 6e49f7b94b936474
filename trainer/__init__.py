"""The training core: `fit(TrainConfig(...)) -> FitResult`, and the checkpoint loaders.

Knows nothing of Optuna, sweeps or the CLI. Torch is imported only when a name that needs
it is first used, so `from torchsweep.trainer.config import TrainConfig` stays cheap.
"""
from importlib import import_module

from torchsweep.trainer.config import EPOCH_METRICS, TrainConfig
from torchsweep.trainer.errors import CheckpointError, ConfigError, DataError

_LAZY = {
    "fit": "torchsweep.trainer.loop",
    "FitResult": "torchsweep.trainer.loop",
    "load_checkpoint": "torchsweep.trainer.checkpoint",
    "load_exported_model": "torchsweep.trainer.checkpoint",
    "export_model": "torchsweep.trainer.checkpoint",
}

__all__ = ["TrainConfig", "ConfigError", "DataError", "CheckpointError", "EPOCH_METRICS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'torchsweep.trainer' has no attribute {name!r}")
