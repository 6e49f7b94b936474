"""`sweep best STUDY --export DIR`: the best trial's weights (or a program's folder), config,
params, metrics and a picture of the model (model.svg, drawn with torchviz and Graphviz).

The best trial whose kept checkpoint loads is exported: one whose checkpoint is missing,
truncated or unsafe is passed over with a note saying why, so the exported weights always
match the params and metrics written beside them. With no loadable checkpoint it refuses.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import CheckpointError, ExportError
from torchsweep.sweeps.readout.trials import TrialRecord, is_multi_objective, ranked_records
from torchsweep.sweeps.study.program_files import files_in, saved_by_program
from torchsweep.trainer.atomic import write_json_atomic
from torchsweep.trainer.files import PICTURE

PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"   # a program's W&B config (the trainer's export writes its own)


@dataclass(frozen=True)
class Export:
    """What `export_best` wrote, and what it passed over to get there."""
    directory: str
    weights: str                     # model.safetensors; for a program, the directory itself
    trial: int
    value: float | None
    passed_over: tuple[str, ...] = ()   # the better trials, each with why it was passed over
    picture: str | None = None       # model.svg, when Graphviz drew it
    picture_note: str | None = None  # why there is no picture, as one line
    confirmation: dict[str, Any] | None = None   # `sweep best --confirm`'s ranking of it
    files: tuple[str, ...] = ()      # every file written into `directory`, by name
    saved_by_program: tuple[str, ...] | None = None   # a program study: the files it saved

    def to_dict(self) -> dict[str, Any]:
        """What `sweep best --json` prints as its `export`."""
        return asdict(self)


def export_best(study: optuna.Study, root: Path, directory: Path,
                trial: int | None = None, confirmation: dict | None = None) -> Export:
    """Write the best trial (or trial `trial`, one of the best) into `directory`: for the
    trainer model.safetensors and config.json, for a user's program a copy of its trial folder;
    then params.json and metrics.json, which records `confirmation` (the fresh seeds' values,
    mean and interval that `sweep best --confirm` ranked the trial by) when given."""
    notes: list[str] = []
    for rank, record in enumerate(_candidates(study, trial)):
        where = f"trial {record.number}{' (the best)' if rank == 0 and trial is None else ''}"
        kept = Path(root) / record.checkpoint if record.checkpoint else None
        if kept is None or not kept.exists():
            notes.append(f"{where}: its {'folder' if attrs.runs_program(study) else 'checkpoint'} "
                         f"is missing under {root}")
            continue
        try:
            written = _export_files(study, record, kept, Path(directory))
        except CheckpointError as error:
            notes.append(f"{where}: {error}")
            continue
        write_json_atomic(Path(directory) / PARAMS_FILE, record.params)
        write_json_atomic(Path(directory) / METRICS_FILE, {
            "study": study.study_name, "trial": record.number,
            "metric": attrs.metric_name(study), "value": record.value,
            **({"metrics": attrs.metric_names(study), "values": record.values}
               if record.values else {}),
            "best_epoch_metrics": record.best_metrics,
            **({"confirmation": confirmation} if confirmation else {})})
        picture, picture_note = _picture(study, Path(root), Path(directory))
        program = attrs.runs_program(study)
        files = [*(files_in(kept) if program else [written.name]), CONFIG_FILE, PARAMS_FILE,
                 METRICS_FILE, *([Path(picture).name] if picture else [])]
        return Export(directory=str(directory), weights=str(written), trial=record.number,
                      value=record.value, passed_over=tuple(notes), picture=picture,
                      picture_note=picture_note, confirmation=confirmation,
                      files=tuple(sorted(set(files))),
                      saved_by_program=tuple(saved_by_program(kept)) if program else None)
    if trial is not None:
        raise ExportError(f"trial {trial} of '{study.study_name}' cannot be exported: "
                          f"{'; '.join(notes)}")
    if not notes:
        raise ExportError(f"study '{study.study_name}' has no completed trial to export yet")
    raise ExportError(f"nothing to export from '{study.study_name}', no trial has a valid "
                      f"checkpoint: {'; '.join(notes)}")


def _export_files(study: optuna.Study, record: TrialRecord, kept: Path, directory: Path) -> Path:
    """The trial's own files: its model as safetensors, or a program's whole folder."""
    from torchsweep.trainer.checkpoint import Checkpoints, export_model

    if attrs.runs_program(study):
        Checkpoints(kept).copy_to(directory)
        write_json_atomic(directory / CONFIG_FILE, record.config)
        return directory
    return export_model(kept, directory)


def _picture(study: optuna.Study, root: Path, directory: Path) -> tuple[str | None, str | None]:
    """model.svg beside a trainer's export, and a copy under the study's folder for its report;
    or why there is none (no Graphviz), as one line."""
    if attrs.runs_program(study):
        return None, None
    from torchsweep.trainer.picture import draw_export, graphviz_missing

    missing = graphviz_missing()
    if missing:
        return None, f"no {PICTURE}: {missing}; the export is otherwise complete"
    picture = draw_export(directory)
    shutil.copyfile(picture, root / study.study_name / PICTURE)
    return str(picture), None


def _candidates(study: optuna.Study, trial: int | None) -> list[TrialRecord]:
    """Completed trials best first: the best one, then those whose checkpoint was kept; or the
    one asked for, which must be among the best (a multi-objective study: its Pareto front)."""
    best_first = ranked_records(study)
    if trial is not None:
        chosen = [record for record in best_first if record.number == trial]
        if not chosen:
            front = "Pareto-optimal" if is_multi_objective(study) else "completed"
            numbers = ", ".join(str(record.number) for record in best_first) or "none yet"
            raise ExportError(f"--trial {trial}: not a {front} trial of '{study.study_name}'; "
                              f"those are: {numbers}")
        return chosen
    return best_first[:1] + [record for record in best_first[1:] if record.checkpoint]
