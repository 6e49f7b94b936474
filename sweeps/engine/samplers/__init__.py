"""The samplers a study can name, built from Optuna's own.

One module per sampler, named as `study.choices.SAMPLERS` names it, each with
`build(space, seed)` (`registry` finds it by that name).
"""
from torchsweep.sweeps.engine.samplers.registry import build_sampler

__all__ = ["build_sampler"]
