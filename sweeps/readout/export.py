"""`sweep best STUDY --export DIR`: the best trial's weights, config, params and metrics.

The best trial whose kept checkpoint loads is exported: one whose checkpoint is missing,
truncated or unsafe is passed over with a note saying why, so the exported weights always
match the params and metrics written beside them. With no loadable checkpoint it refuses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.errors import CheckpointError, ExportError
from torchsweep.sweeps.readout.trials import TrialRecord, ranked_records

PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.json"


def export_best(study: optuna.Study, root: Path, directory: Path) -> dict[str, Any]:
    """Write model.safetensors, config.json, params.json and metrics.json into `directory`."""
    from torchsweep.trainer.atomic import write_json_atomic
    from torchsweep.trainer.checkpoint import export_model

    notes: list[str] = []
    for rank, row in enumerate(_candidates(study)):
        where = f"trial {row.number}{' (the best)' if rank == 0 else ''}"
        if row.checkpoint is None or not (Path(root) / row.checkpoint).is_file():
            notes.append(f"{where}: its checkpoint is missing under {root}")
            continue
        try:
            weights = export_model(Path(root) / row.checkpoint, directory)
        except CheckpointError as error:
            notes.append(f"{where}: {error}")
            continue
        write_json_atomic(Path(directory) / PARAMS_FILE, row.params)
        write_json_atomic(Path(directory) / METRICS_FILE, {
            "study": study.study_name, "trial": row.number, "metric": attrs.metric_name(study),
            "value": row.value, "best_epoch_metrics": row.best_metrics})
        return {"directory": str(directory), "weights": str(weights), "trial": row.number,
                "value": row.value, "passed_over": notes}
    if not notes:
        raise ExportError(f"study '{study.study_name}' has no completed trial to export yet")
    raise ExportError(f"nothing to export from '{study.study_name}', no trial has a valid "
                      f"checkpoint: {'; '.join(notes)}")


def _candidates(study: optuna.Study) -> list[TrialRecord]:
    """Completed trials best first: the best one, then those whose checkpoint was kept."""
    best_first = ranked_records(study)
    return best_first[:1] + [trial for trial in best_first[1:] if trial.checkpoint]
