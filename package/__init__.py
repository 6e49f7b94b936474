"""torchsweep: hyperparameter sweeps for PyTorch, from the command line (`sweep`) or Python.

    import torchsweep as ts
    study = ts.Study("sweep.yaml")
    result = study.run(train, trials=30, workers=2)

The names below are imported when first used: `sweep --help` imports this package (its
commands live in torchsweep.cli) and must not pay for the engine, let alone torch. Their home
is torchsweep/sweeps/python_api.py.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchsweep.sweeps.python_api import Pruned, Result, Study, Trial, agent, sweep

__all__ = ["Study", "Result", "Trial", "Pruned", "sweep", "agent"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module("torchsweep.sweeps.python_api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
