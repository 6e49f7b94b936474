"""The training core: `fit(TrainConfig(...)) -> FitResult`, and the checkpoint loaders.

Knows nothing of Optuna, sweeps or the CLI. Each name is imported when first used, so
`from torchsweep.trainer.errors import ConfigError` costs nothing and only training imports
torch.
"""
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # what a type checker and an editor see; at run time, `__getattr__` below
    from torchsweep.trainer.checkpoint import export_model, load_checkpoint, load_exported_model
    from torchsweep.trainer.config import EPOCH_DIAGNOSTICS, EPOCH_METRICS, TrainConfig
    from torchsweep.trainer.errors import CheckpointError, ConfigError, DataError
    from torchsweep.trainer.goal import Goal
    from torchsweep.trainer.loop import FitResult, fit

_LAZY = {
    "TrainConfig": "config",
    "EPOCH_METRICS": "config",
    "EPOCH_DIAGNOSTICS": "config",
    "Goal": "goal",
    "ConfigError": "errors",
    "DataError": "errors",
    "CheckpointError": "errors",
    "fit": "loop",
    "FitResult": "loop",
    "load_checkpoint": "checkpoint",
    "load_exported_model": "checkpoint",
    "export_model": "checkpoint",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
