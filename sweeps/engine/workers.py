"""Local worker processes: `--workers N`, or one per GPU in `--gpus` (times `--workers-per-gpu`).

Each worker is a process of its own, started with the spawn method (a fresh interpreter: no
forked CUDA context, storage connection or lock), that claims trials from the study's queue
until it is empty. The CPU cores are divided between the workers as torch threads; a GPU
worker sees only its own GPU (CUDA_VISIBLE_DEVICES), as `cuda`. The parent supervises: on
SIGINT or SIGTERM it forwards the signal, waits for the workers to leave their trials
resumable, and stops with the signal. What a worker raises (a full disk, a storage error) is
raised again in the parent once all have ended, so `sweep run --workers N` reports it as one
line and its exit code, as a single in-process worker would; a worker that dies is reported
(its trial is retried by the others, or by the next run).
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import signal
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

from torchsweep.sweeps.engine import signals
from torchsweep.sweeps.engine.signals import Stopped
from torchsweep.sweeps.errors import WorkerError
from torchsweep.trainer.errors import ConfigError

POLL = 0.2              # seconds between looks at the workers
STOP_GRACE = 60.0       # seconds a signalled worker gets to give its trial back before SIGKILL
_GPU = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z/-]+")


@dataclass(frozen=True)
class WorkerSlot:
    index: int
    threads: int = 0               # torch threads; 0 keeps torch's default
    gpu: str | None = None         # the one GPU this worker sees

    def environment(self) -> dict[str, str]:
        """The GPU this worker sees. Indices count the GPUs this process sees, as torch does:
        inside a scheduler's job that was given GPUs 2,3 (CUDA_VISIBLE_DEVICES=2,3), GPU 0 is
        the job's first one, 2."""
        if self.gpu is None:
            return {}
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
        if self.gpu.isdigit() and int(self.gpu) < len(visible) and visible[int(self.gpu)]:
            return {"CUDA_VISIBLE_DEVICES": visible[int(self.gpu)]}
        return {"CUDA_VISIBLE_DEVICES": self.gpu}

    def overrides(self, fixed: Sequence[str]) -> dict[str, object]:
        """Training settings this slot implies, except those the study or user fixed."""
        implied: dict[str, object] = {"threads": self.threads} if self.threads else {}
        if self.gpu is not None:
            implied["device"] = "cuda"
        return {name: value for name, value in implied.items() if name not in fixed}


def parse_gpus(text: str) -> tuple[str, ...]:
    """`0,1,3` (indices or GPU-/MIG- UUIDs, as CUDA_VISIBLE_DEVICES takes them)."""
    gpus = tuple(part.strip() for part in text.split(","))
    bad = [gpu for gpu in gpus if not _GPU.fullmatch(gpu)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a GPU index or UUID; expected e.g. 0,1")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"{text!r} lists a GPU twice; use --workers-per-gpu to share one")
    return gpus


def check_gpus(gpus: Sequence[str]) -> None:
    """Refuse GPU indices this machine does not have, before anything is written."""
    if not gpus:
        return
    import torch

    count = torch.cuda.device_count()
    if count == 0 or any(gpu.isdigit() and int(gpu) >= count for gpu in gpus):
        raise ConfigError(None, f"--gpus {','.join(gpus)}: this machine has {count} CUDA "
                                f"device{'' if count == 1 else 's'}")


def plan_slots(workers: int, gpus: Sequence[str], workers_per_gpu: int,
               cpus: int) -> list[WorkerSlot]:
    """One slot per worker; with GPUs, `workers_per_gpu` per GPU and `workers` is unused."""
    devices = [gpu for gpu in gpus for _ in range(workers_per_gpu)] if gpus else [None] * workers
    # One worker keeps torch's own default; several share the cores instead of fighting over them.
    threads = max(1, cpus // len(devices)) if len(devices) > 1 else 0
    return [WorkerSlot(index, threads, gpu) for index, gpu in enumerate(devices)]


def in_process(slots: Sequence[WorkerSlot]) -> bool:
    """A single CPU worker runs in this process (it keeps the live view); GPU workers never
    do, since only a fresh process can be limited to its GPU."""
    return len(slots) == 1 and slots[0].gpu is None


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_processes(target: Callable[[WorkerSlot, Callable[[], None]], object],
                  slots: Sequence[WorkerSlot]) -> int:
    """Run `target(slot, count_trial)` in one process per slot (target must pickle: a
    module-level function or a partial of one); returns the trials they finished. Call it
    inside `signals.stopping_on_signals()`."""
    context = multiprocessing.get_context("spawn")
    counts = [context.Value("i", 0) for _ in slots]
    errors, raised = context.SimpleQueue(), []
    # Warnings print in a worker as they do here (the CLI words ours as one line).
    processes = [context.Process(target=_child, args=(target, slot, count, errors,
                                                      warnings.formatwarning),
                                 daemon=False, name=f"sweep-worker-{slot.index}")
                 for slot, count in zip(slots, counts)]
    for process in processes:
        process.start()
    try:
        while True:
            alive = [p for p in processes if p.is_alive()]
            while not errors.empty():   # drained as they come: a full pipe would block a worker
                raised.append(errors.get())
            if not alive:               # (looked at before draining: nothing put is missed)
                break
            alive[0].join(POLL)
            signals.check()
    except Stopped as stop:
        _stop_all(processes, stop.signum)
        raise
    if raised:
        # What a worker raised is raised here, as if it had run in this process: `sweep run`
        # then reports a full disk or a bad setting as one line and its own exit code.
        error, where = raised[0]
        if hasattr(error, "add_note"):
            error.add_note(f"raised in a worker process:\n{where}")
        raise error
    failed = [f"worker {slot.index} {_ended(process.exitcode)}"
              for slot, process in zip(slots, processes) if process.exitcode != 0]
    if failed:
        raise WorkerError(f"{'; '.join(failed)}; its trial is retried by the other workers or "
                          "by the next run")
    return sum(count.value for count in counts)


def _child(target, slot: WorkerSlot, count, errors, formatwarning) -> None:
    # Before anything touches CUDA: the GPU a worker may see is fixed when CUDA starts.
    os.environ.update(slot.environment())
    warnings.formatwarning = formatwarning
    _stop_if_orphaned()

    def count_trial() -> None:
        count.value += 1      # this process is the only writer of its counter

    with signals.stopping_on_signals():
        try:
            target(slot, count_trial)
        except Stopped as stop:
            sys.exit(stop.exit_code)
        except Exception as error:
            errors.put((_picklable(error, slot), traceback.format_exc()[-8000:]))
            sys.exit(1)


def _picklable(error: Exception, slot: WorkerSlot) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return WorkerError(f"worker {slot.index}: {type(error).__name__}: {error}")


def _stop_if_orphaned() -> None:
    """A parent killed outright (SIGKILL, the OOM killer) forwards no signal: its workers would
    run on unsupervised. Each watches its parent and, once it is gone, stops as if preempted
    (SIGTERM to itself): its trial is left resumable and the next `sweep run` continues it."""
    parent = multiprocessing.parent_process()
    if parent is None:   # the main process: nothing to watch
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="sweep-parent-watch", daemon=True).start()


def _stop_all(processes, signum: int) -> None:
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signum)
    for process in processes:
        process.join(STOP_GRACE)
        if process.is_alive():
            process.kill()
            process.join()


def _ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"failed (exit code {exitcode}; its error is above)"
