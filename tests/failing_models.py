"""Models (`--set model=failing_models:NAME`) that fail the way real trials do."""
import torch
from torch import nn


class _Raises(nn.Module):
    """Fails in its first forward pass, as a model too large for the device or a bug does."""

    def __init__(self, error: Exception):
        super().__init__()
        self.error = error
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, inputs):
        raise self.error


def out_of_memory_above_128(input_shape, num_classes, config) -> nn.Module:
    if config.batch_size > 128:
        return _Raises(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    from torchsweep.trainer.models import build_model

    return build_model(config.replace(model="mlp"), input_shape, num_classes)


def broken(input_shape, num_classes, config) -> nn.Module:
    return _Raises(ValueError("boom: a bug in the model"))


DIES_MARKER = "SWEEP_TEST_DIES_MARKER"


def dies_once(input_shape, num_classes, config) -> nn.Module:
    """The first worker process to build it is killed outright (SIGKILL, as the OOM killer
    does); the file named by $SWEEP_TEST_DIES_MARKER records that one did. Then the mlp."""
    import os
    import signal

    try:
        os.close(os.open(os.environ[DIES_MARKER], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        from torchsweep.trainer.models import build_model

        return build_model(config.replace(model="mlp"), input_shape, num_classes)
    os.kill(os.getpid(), signal.SIGKILL)
