"""`sweep best STUDY --export DIR`: the best trial's weights, config, params and metrics.

The best trial whose kept checkpoint loads is exported: one whose checkpoint is missing,
truncated or unsafe is passed over with a note saying why, so the exported weights always
match the params and metrics written beside them. With no loadable checkpoint it refuses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from torchsweep.sweeps.errors import ExportError
from torchsweep.sweeps.readout.trials import TrialRow, metric_name, trial_rows
from torchsweep.sweeps.engine.retention import ranked

PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.json"


def export_best(study: optuna.Study, root: Path, directory: Path) -> dict[str, Any]:
    """Write model.safetensors, config.json, params.json and metrics.json into `directory`."""
    from torchsweep.trainer.checkpoint import export_model, write_json_atomic
    from torchsweep.trainer.errors import CheckpointError, WriteError

    notes: list[str] = []
    for rank, row in enumerate(_candidates(study)):
        where = f"trial {row.number}{' (the best)' if rank == 0 else ''}"
        if row.checkpoint is None or not (Path(root) / row.checkpoint).is_file():
            notes.append(f"{where}: its checkpoint is missing under {root}")
            continue
        try:
            weights = export_model(Path(root) / row.checkpoint, directory)
        except WriteError:
            raise
        except CheckpointError as error:
            notes.append(f"{where}: {error}")
            continue
        write_json_atomic(Path(directory) / PARAMS_FILE, row.params)
        write_json_atomic(Path(directory) / METRICS_FILE, {
            "study": study.study_name, "trial": row.number, "metric": metric_name(study),
            "value": row.value, "best_epoch_metrics": row.best_metrics})
        return {"directory": str(directory), "weights": str(weights), "trial": row.number,
                "value": row.value, "passed_over": notes}
    if not notes:
        raise ExportError(f"study '{study.study_name}' has no completed trial to export yet")
    raise ExportError(f"nothing to export from '{study.study_name}', no trial has a valid "
                      f"checkpoint: {'; '.join(notes)}")


def _candidates(study: optuna.Study) -> list[TrialRow]:
    """Completed trials best first: the best one, then those whose checkpoint was kept."""
    rows = {row.number: row for row in trial_rows(study)}
    best_first = [rows[trial.number] for trial in ranked(study)]
    return best_first[:1] + [row for row in best_first[1:] if row.checkpoint]
