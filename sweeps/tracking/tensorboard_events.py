"""TensorBoard event files on request (`--tensorboard`): one scalar per metric per epoch.

Written into the run's own folder (a trial's folder, or `sweep train --out`), next to
`metrics.jsonl`, so `tensorboard --logdir <root>/<study>/trials` shows every trial as a run.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchsweep.sweeps.tracking.background import BackgroundRun

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class TensorBoardRun(BackgroundRun):
    label = "TensorBoard event file"

    def __init__(self, folder: Path):
        self._writer: SummaryWriter | None = None
        self._guard(self._open, Path(folder))

    def _open(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(folder))

    def _log(self, metrics: dict[str, float]) -> None:
        epoch = int(metrics["epoch"])
        assert self._writer is not None, "logged to after its writer failed to open"
        for name, value in metrics.items():
            if name != "epoch":
                self._writer.add_scalar(name, value, global_step=epoch)

    def _finish(self, state: str, summary: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.close()    # flushes, and ends the writer's thread
