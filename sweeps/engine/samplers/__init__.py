"""The samplers a study can name, built from Optuna's own.

One module per sampler, each with `build(space, seed)`; `registry` maps every name of
`study.choices.SAMPLERS` to one.
"""
from torchsweep.sweeps.engine.samplers.registry import FACTORIES, build_sampler

__all__ = ["FACTORIES", "build_sampler"]
