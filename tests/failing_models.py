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


MEMORY_LOG = "SWEEP_TEST_MEMORY_LOG"
_BLOCK = 256 * 2 ** 20     # bytes


def holds_width_mib(input_shape, num_classes, config) -> nn.Module:
    """A model that holds `width` MiB of memory for its whole trial (in 256 MiB blocks, as a
    large model would), around a width-8 mlp that does the training: CPU memory, moved to the
    GPU with the model when the trial trains there. Notes the process's address-space size as
    its trial starts, and what CUDA's allocator holds once it is in use, one JSON line per
    trial in $SWEEP_TEST_MEMORY_LOG."""
    import json
    import os

    from torchsweep.trainer.models import build_model

    entry = {"width": config.width, "address_space": _address_space()}
    if torch.cuda.is_initialized():
        entry.update(cuda_allocated=torch.cuda.memory_allocated(),
                     cuda_reserved=torch.cuda.memory_reserved())
    with open(os.environ[MEMORY_LOG], "a") as log:
        log.write(json.dumps(entry) + "\n")
    held = []   # a local, as a model's layers are: a failure keeps them in its traceback
    for _ in range(config.width * 2 ** 20 // _BLOCK):
        held.append(torch.empty(_BLOCK, dtype=torch.uint8))
    model = build_model(config.replace(model="mlp", width=8), input_shape, num_classes)
    for index, block in enumerate(held):
        model.register_buffer(f"held{index}", block, persistent=False)   # never checkpointed
    return model


def _address_space() -> int:
    """This process's virtual memory size (VmSize), in bytes: what RLIMIT_AS bounds."""
    with open("/proc/self/status") as status:
        kib = next(line for line in status if line.startswith("VmSize:")).split()[1]
    return int(kib) * 1024


class _Slowed(nn.Module):
    def __init__(self, inner: nn.Module, seconds: float):
        super().__init__()
        self.inner, self.seconds = inner, seconds

    def forward(self, inputs):
        import time

        time.sleep(self.seconds)
        return self.inner(inputs)


def slow_mlp(input_shape, num_classes, config) -> nn.Module:
    """The mlp, each forward pass 10 ms longer: trials that take seconds whatever the CPU, and
    leave it to the other processes, for tests that kill trials midway."""
    from torchsweep.trainer.models import build_model

    return _Slowed(build_model(config.replace(model="mlp"), input_shape, num_classes), 0.01)


BUILD_SECONDS = 1.0


def slow_to_build(input_shape, num_classes, config) -> nn.Module:
    """The mlp, built only after BUILD_SECONDS: a trial that outlasts a `--timeout` of that
    many seconds whatever the CPU (the deadline is set before the first trial starts)."""
    import time

    from torchsweep.trainer.models import build_model

    time.sleep(BUILD_SECONDS)
    return build_model(config.replace(model="mlp"), input_shape, num_classes)


def slower_mlp(input_shape, num_classes, config) -> nn.Module:
    """The mlp, each forward pass 250 ms longer: epochs of seconds that are mostly that wait,
    so that they measure out time about as well on a loaded machine as on an idle one."""
    from torchsweep.trainer.models import build_model

    return _Slowed(build_model(config.replace(model="mlp"), input_shape, num_classes), 0.25)


HOLD = "SWEEP_TEST_HOLD"
_HELD_AT = 18    # training batches: past the first epoch (12 batches of 128 digits), mid-second


class _Held(nn.Module):
    def __init__(self, inner: nn.Module, hold: str):
        super().__init__()
        self.inner, self.hold, self.batches = inner, hold, 0

    def forward(self, inputs):
        import os
        import time

        if self.training:
            self.batches += 1
            while self.batches >= _HELD_AT and os.path.exists(self.hold):
                time.sleep(0.01)
        return self.inner(inputs)


def held_mlp(input_shape, num_classes, config) -> nn.Module:
    """The mlp, held in its second epoch (its first one checkpointed) for as long as the file
    named by $SWEEP_TEST_HOLD exists: a test stops trials midway at a moment it chooses, with
    no race against the clock. Once the file is gone it trains at full speed."""
    import os

    from torchsweep.trainer.models import build_model

    return _Held(build_model(config.replace(model="mlp"), input_shape, num_classes),
                 os.environ[HOLD])
