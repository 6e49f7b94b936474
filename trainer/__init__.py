"""The training core: `fit(TrainConfig(...)) -> FitResult`, and the checkpoint loaders.

Knows nothing of Optuna, sweeps or the CLI. Each name is imported when first used, so
`from torchsweep.trainer.errors import ConfigError` costs nothing and only training imports
torch.
"""
from importlib import import_module

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


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
