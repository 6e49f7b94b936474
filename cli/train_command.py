"""`sweep train`: one training run, without Optuna."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from torchsweep.cli import output
from torchsweep.cli.parameters import SetOption, root


app = typer.Typer()


@app.command()
def train(
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False,
                                          help="YAML file of training settings."),
    set_: SetOption = [],
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder "
                                       "(default: <root>/train/<timestamp>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Checkpoint to resume from."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object at the end."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    tensorboard: bool = typer.Option(False, "--tensorboard",
                                     help="Also write TensorBoard event files into --out."),
) -> None:
    """Train once, without Optuna: settings from defaults < --config < --set."""
    import time

    import yaml

    from torchsweep.sweeps.errors import ConfigError
    from torchsweep.sweeps.study import parse_set_option
    from torchsweep.trainer.config import TrainConfig

    settings: dict[str, object] = {}
    if config is not None:
        settings = yaml.safe_load(config.read_text()) or {}
        if not isinstance(settings, dict):
            raise ConfigError(None, f"{config}: expected a mapping of setting: value")
    settings.update(parse_set_option(text) for text in set_)
    resolved = TrainConfig.from_dict(settings)
    out = out or root(None) / "train" / time.strftime("%Y%m%d-%H%M%S")
    if resume is not None:
        from torchsweep.trainer.checkpoint import resume_point

        resume, _, fallback_note = resume_point(resume)
        if fallback_note:
            output.notice(fallback_note)

    from torchsweep.sweeps.tracking.background import Fanout
    from torchsweep.sweeps.tracking.tensorboard_events import TensorBoardRun
    from torchsweep.trainer.loop import fit

    if not (quiet or as_json):
        output.training_started(resolved, out, dataset_given="dataset" in settings)
    events = Fanout([TensorBoardRun(out)] if tensorboard else [])
    try:
        result = fit(resolved, out_dir=out, resume_from=resume, callbacks=(events.log,),
                     progress=not (quiet or as_json) and sys.stderr.isatty())
    finally:
        events.finish("ended", {})   # flushes the event files however training ended
    if as_json:
        output.json_object(result.to_dict())
    elif not quiet:
        output.epochs_table(result)
        output.noise_scale(result)
