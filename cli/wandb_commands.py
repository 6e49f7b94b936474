"""Commands for a study's W&B runs on disk: `runs` and `sync`."""
from __future__ import annotations

from typing import Optional

import typer

from torchsweep.cli import output
from torchsweep.cli.parameters import RootOption, StudyName, positive, root


app = typer.Typer()


@app.command()
def runs(
    study: StudyName,
    root_: RootOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The study's W&B runs on disk (a run per trial, a study run per sweep), and whether
    each is synced."""
    from torchsweep.sweeps.tracking.local_runs import list_runs, runs_folder

    folder = root(root_)
    found = list_runs(folder, study)
    if as_json:
        output.json_object({"study": study, "folder": str(runs_folder(folder, study)),
                             "runs": [run.to_dict() for run in found]})
    else:
        output.runs_table(study, found, runs_folder(folder, study))


@app.command()
def sync(
    study: StudyName,
    root_: RootOption = None,
    wandb_project: Optional[str] = typer.Option(None, "--wandb-project",
                                                help="Upload to this W&B project instead."),
    wandb_entity: Optional[str] = typer.Option(None, "--wandb-entity",
                                               help="Upload to this W&B entity instead."),
    timeout: float = typer.Option(600, "--timeout", callback=positive,
                                  help="Give up after this many seconds; synced runs stay "
                                       "synced, and syncing again continues."),
) -> None:
    """Upload the study's offline W&B runs with W&B's own sync (`wandb sync`)."""
    from torchsweep.sweeps.tracking.local_runs import sync_runs

    synced = sync_runs(root(root_), study, project=wandb_project, entity=wandb_entity,
                       timeout=timeout)
    output.synced(study, synced)
