"""`sweep best STUDY --export DIR`: the best trial's weights, config, params and metrics."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from sweeps.errors import ExportError
from sweeps.results import best_row, metric_name

PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.json"


def export_best(study: optuna.Study, root: Path, directory: Path) -> dict[str, Any]:
    """Write model.safetensors, config.json, params.json and metrics.json into `directory`."""
    from trainer.checkpoint import export_model, write_json_atomic

    best = best_row(study)
    if best is None:
        raise ExportError(f"study '{study.study_name}' has no completed trial to export yet")
    if best.checkpoint is None or not (Path(root) / best.checkpoint).is_file():
        raise ExportError(f"the checkpoint of trial {best.number} (the best of "
                          f"'{study.study_name}') is missing under {root}")
    directory = Path(directory)
    weights = export_model(Path(root) / best.checkpoint, directory)
    write_json_atomic(directory / PARAMS_FILE, best.params)
    write_json_atomic(directory / METRICS_FILE, {
        "study": study.study_name, "trial": best.number, "metric": metric_name(study),
        "value": best.value, "best_epoch_metrics": best.best_metrics})
    return {"directory": str(directory), "weights": str(weights), "trial": best.number,
            "value": best.value}
