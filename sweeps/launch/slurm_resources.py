"""What `sweep launch slurm` can be asked, checked without Slurm or submitit: the CLI imports
it to validate its options."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_TIME = "4:00:00"       # each job's time limit; at the limit it is requeued
# sbatch options that submitit sets itself, or that have an option of their own.
_RESERVED = {"array": None, "output": None, "error": None, "open_mode": None, "signal": None,
             "wrap": None, "partition": "--partition", "time": "--time",
             "cpus_per_task": "--cpus-per-task", "mem": "--mem",
             "gpus_per_node": "--gpus-per-job", "gpus": "--gpus-per-job"}


@dataclass(frozen=True)
class SlurmResources:
    jobs: int = 1                       # array tasks
    gpus_per_job: int = 0               # GPUs per job, one worker on each (0: one CPU worker)
    partition: str | None = None
    time: str = DEFAULT_TIME            # Slurm's format: MINUTES, H:MM:SS, D-HH:MM, ...
    cpus_per_task: int | None = None
    mem: str | None = None              # per job, as sbatch takes it: 16G
    extra: dict[str, str] = field(default_factory=dict)   # --slurm KEY=VALUE


def minutes(text: str) -> int:
    """Slurm's time formats (MINUTES, MINUTES:SECONDS, H:M:S, D-H, D-H:M, D-H:M:S) in whole
    minutes, rounded up."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a Slurm time; expected e.g. 90, 4:00:00 or 1-12:00")
    days, second, third = (int(part) if part else None for part in match.group(1, 3, 4))
    first = int(match.group(2))
    if days is not None:        # D-H, D-H:M, D-H:M:S
        hours, mins, secs = first, second or 0, third or 0
    elif third is not None:     # H:M:S
        hours, mins, secs = first, second or 0, third
    else:                       # MINUTES, MINUTES:SECONDS
        hours, mins, secs = 0, first, second or 0
    total = ((days or 0) * 24 * 60 + hours * 60 + mins) * 60 + secs   # seconds
    if total <= 0:
        raise ValueError(f"{text!r} is no time at all; give a positive time limit")
    return -(-total // 60)


def sbatch_options(pairs: list[str]) -> dict[str, str]:
    """--slurm KEY=VALUE (repeatable): any sbatch option, e.g. account=ml, qos=high."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not equals or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise ValueError(f"{pair!r} is not KEY=VALUE with KEY an sbatch option, e.g. "
                             "account=ml")
        if key in _RESERVED:
            own = _RESERVED[key]
            raise ValueError(f"{key} " + (f"has an option of its own: use {own}" if own else
                                          "is set by `sweep launch slurm` itself"))
        found[key] = value
    return found
