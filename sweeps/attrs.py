"""Every attribute a study or a trial carries in the storage: its key, and the reader for it.

What `sweep run` records is what `sweep show`, `sweep best`, retention, retries, reports and
workers on other machines read back, possibly from another version of this program: so each
key is named here once, written only through the writers and read only through the readers
below. Optuna-free: a study or a trial is anything with `user_attrs` and `set_user_attr`
(and, for trials, `system_attrs`, which the engine writes through engine/_optuna.py).

Retries use Optuna's own keys, the ones `optuna.storages.RetryHeartbeatStaleTrialCallback`
writes (`failed_trial`, `retry_history`), so optuna-dashboard and that callback's
`retried_trial_number` see our retries as Optuna's.
"""
from __future__ import annotations

from typing import Any

# --- study attributes (user attrs) ---
SPEC = "spec"                        # the study as a W&B-style document (StudySpec.to_dict())
FINGERPRINT = "space_fingerprint"    # SearchSpace.fingerprint() when the study was created
SETTINGS = "settings"                # sampler, pruner, keep_top_k, W&B project: shared by workers
CHECKPOINTS = "checkpoints"          # {trial number: kept best.pt, relative to the root}
SLURM_ARRAYS = "slurm_arrays"        # ids of the Slurm job arrays `sweep launch slurm` submitted
CONFIRMATIONS = "confirmations"      # `sweep best --confirm`'s results, oldest first

# --- trial attributes (user attrs) ---
PARAMS = "params"                    # the decoded parameter values, as the trainer took them
CONFIG = "config"                    # the resolved training config
TRIAL_DIR = "dir"                    # the trial's folder, relative to the root
SUMMARY = "summary"                  # epochs_run, best_epoch, best/final metrics, pruned_at
REASON = "reason"                    # why a trial did not complete: pruned, diverged, lost, ...
ERROR = "error"                      # the traceback of a failed trial
RESUME_DIRS = "resume_dirs"          # a retry's folders to resume from (last.pt), newest first
RESUMED_AT = "resumed_at_epoch"      # the checkpoint epoch a retry continued from
JOB = "job"                          # the scheduler job whose worker ran the trial (e.g. 812_0)
LAST_ARTIFACT = "last_artifact"      # {dir, id, epoch}: the trial's last.pt in --artifacts
RETRY_DUE = "retry_due"              # True on a failed trial whose worker queues its retry
# With repeats: {seeds, dirs (first: the trial's own), values: {metric: [per seed]},
# mean: {metric: m}, std: {metric: s}, planned: N}; seeds may be fewer than planned when the
# Wilcoxon pruner stopped the configuration early.
REPEATS = "repeats"
# The reliability diagram at the best epoch: {confidence, accuracy, count}, one item per bin.
BEST_RELIABILITY = "best_reliability"

# --- trial attributes (system attrs) ---
RETRIED_TRIAL = "failed_trial"       # Optuna's: the first attempt of a retried trial
RETRY_HISTORY = "retry_history"      # Optuna's: every earlier attempt, oldest first
OURS = "sweep:"                      # prefix of our own system attrs, never copied to a retry
HEARTBEAT = OURS + "heartbeat"       # time.time() of the running trial's last heartbeat
HEARTBEAT_INTERVAL = OURS + "heartbeat_interval"   # seconds between its heartbeats
# A token each trial is created with: a creation whose connection dropped finds by it whether
# the trial was made (storage/resilient.py).
CREATED_AS = OURS + "created_as"


# --- study readers ---

def spec_document(study: Any) -> dict[str, Any] | None:
    return study.user_attrs.get(SPEC)


def metric_names(study: Any) -> list[str]:
    """The study's metrics as its study file names them (several for a multi-objective one);
    `value` for a study we did not make; none for one without a metric."""
    if not has_metric(study):
        return []
    document = spec_document(study) or {}
    metrics = document.get("metrics") or [document.get("metric", {})]
    return [metric.get("name", "value") for metric in metrics]


def metric_name(study: Any) -> str | None:
    """The (first) metric's name; None for a study without a metric."""
    names = metric_names(study)
    return names[0] if names else None


def has_metric(study: Any) -> bool:
    """Whether the study ranks its trials: a W&B grid or random file for the user's own code
    may name no metric (StudySpec.ranked); a study we did not make has Optuna's value."""
    document = spec_document(study)
    return document is None or "metric" in document or "metrics" in document


def metric_target(study: Any) -> float | None:
    return (spec_document(study) or {}).get("metric", {}).get("target")


def runs_program(study: Any) -> bool:
    """Whether the study's trials run the user's own code (its study has program:, command:
    or function:), whose trials keep whole folders rather than checkpoints."""
    document = spec_document(study) or {}
    return any(key in document for key in ("program", "command", "function"))


def shared_settings(study: Any) -> dict[str, Any]:
    return study.user_attrs.get(SETTINGS, {})


def kept_checkpoints(study: Any) -> dict[str, str]:
    return study.user_attrs.get(CHECKPOINTS, {})


def slurm_arrays(study: Any) -> list[str]:
    return list(study.user_attrs.get(SLURM_ARRAYS, []))


def confirmations(study: Any) -> list[dict[str, Any]]:
    return list(study.user_attrs.get(CONFIRMATIONS, []))


# --- trial readers ---

def params(trial: Any) -> dict[str, Any]:
    """The values the trainer took; Optuna's own params for a trial that never sampled ours."""
    return trial.user_attrs.get(PARAMS, trial.params)


def config(trial: Any) -> dict[str, Any]:
    return trial.user_attrs.get(CONFIG, {})


def trial_dir(trial: Any) -> str | None:
    return trial.user_attrs.get(TRIAL_DIR)


def summary(trial: Any) -> dict[str, Any]:
    return trial.user_attrs.get(SUMMARY) or {}


def repeats(trial: Any) -> dict[str, Any] | None:
    """The trial's seeds and their values, for a trial that trained several (else None)."""
    return trial.user_attrs.get(REPEATS)


def seed_dirs(trial: Any) -> list[str]:
    """Every seed's folder, the trial's own first ([] for a trial without repeats)."""
    return list((repeats(trial) or {}).get("dirs", []))


def best_reliability(trial: Any) -> dict[str, list[float]] | None:
    return trial.user_attrs.get(BEST_RELIABILITY)


def reason(trial: Any) -> str | None:
    return trial.user_attrs.get(REASON)


def resume_dirs(trial: Any) -> list[str]:
    return list(trial.user_attrs.get(RESUME_DIRS, []))


def resumed_at(trial: Any) -> int | None:
    return trial.user_attrs.get(RESUMED_AT)


def job(trial: Any) -> str | None:
    return trial.user_attrs.get(JOB)


def last_artifact(trial: Any) -> dict[str, Any] | None:
    return trial.user_attrs.get(LAST_ARTIFACT)


def retry_due(trial: Any) -> bool:
    return bool(trial.user_attrs.get(RETRY_DUE))


def retry_history(trial: Any) -> list[int]:
    """The numbers of the attempts before this one, oldest first ([] for a first attempt)."""
    return list(trial.system_attrs.get(RETRY_HISTORY, []))


def retry_of(trial: Any) -> int | None:
    """The attempt this trial replaces (its worker died or was stopped), or None."""
    history = retry_history(trial)
    return history[-1] if history else None


def is_retry(trial: Any) -> bool:
    return RETRIED_TRIAL in trial.system_attrs


def attempt(trial: Any) -> int:
    """1 for a first attempt, 2 for its first retry, and so on."""
    return len(retry_history(trial)) + 1


def retry_system_attrs(failed: Any) -> dict[str, Any]:
    """The system attrs of a retry of `failed`: its sampler's (such as the grid point), and the
    retry keys exactly as RetryHeartbeatStaleTrialCallback writes them."""
    inherited = {key: value for key, value in failed.system_attrs.items()
                 if not key.startswith(OURS)}
    return {**inherited, RETRIED_TRIAL: inherited.get(RETRIED_TRIAL, failed.number),
            RETRY_HISTORY: [*retry_history(failed), failed.number]}


# --- study writers ---

def record_space(study: Any, fingerprint: str, spec_document: dict[str, Any]) -> None:
    study.set_user_attr(FINGERPRINT, fingerprint)
    study.set_user_attr(SPEC, spec_document)


def record_settings(study: Any, settings: dict[str, Any]) -> None:
    """The settings workers share; written only when they changed (every run records them)."""
    if shared_settings(study) != settings:
        study.set_user_attr(SETTINGS, settings)


def record_kept_checkpoints(study: Any, kept: dict[int, str]) -> None:
    study.set_user_attr(CHECKPOINTS, {str(number): path for number, path in kept.items()})


def add_slurm_array(study: Any, array: str) -> None:
    study.set_user_attr(SLURM_ARRAYS, [*slurm_arrays(study), array])


def add_confirmation(study: Any, outcome: dict[str, Any]) -> None:
    study.set_user_attr(CONFIRMATIONS, [*confirmations(study), outcome])


# --- trial writers ---

def record_start(trial: Any, params: dict[str, Any], folder: str, job: str | None,
                 config: dict[str, Any] | None = None) -> None:
    """What a trial runs with, and where: as soon as it is drawn."""
    trial.set_user_attr(PARAMS, params)
    if config is not None:
        trial.set_user_attr(CONFIG, config)
    trial.set_user_attr(TRIAL_DIR, folder)
    if job:
        trial.set_user_attr(JOB, job)


def record_config(trial: Any, config: dict[str, Any]) -> None:
    trial.set_user_attr(CONFIG, config)


def record_summary(trial: Any, summary: dict[str, Any],
                   reliability: dict[str, list[float]] | None = None) -> None:
    trial.set_user_attr(SUMMARY, summary)
    if reliability:
        trial.set_user_attr(BEST_RELIABILITY, reliability)


def record_repeats(trial: Any, repeats: dict[str, Any]) -> None:
    trial.set_user_attr(REPEATS, repeats)


def record_reason(trial: Any, reason: str, error: str | None = None) -> None:
    """Why the trial did not complete, with its error (a traceback, a message) if any."""
    trial.set_user_attr(REASON, reason)
    if error is not None:
        trial.set_user_attr(ERROR, error)


def record_resumed_at(trial: Any, epoch: int) -> None:
    trial.set_user_attr(RESUMED_AT, epoch)


def failed_with_retry(reason: str, due: bool) -> dict[str, Any]:
    """The user attributes of a trial whose worker died or was stopped: why, and whether its
    retry is queued (written with the trial's failure, in `_optuna.fail_if_running`)."""
    return {REASON: reason, RETRY_DUE: due}


def record_last_artifact(trial: Any, folder: str, artifact_id: str, epoch: int) -> None:
    trial.set_user_attr(LAST_ARTIFACT, {"dir": folder, "id": artifact_id, "epoch": epoch})
