"""A study's search space, recorded once, when the study is created.

Launches race: two `sweep run` or `sweep create` of one study may start at the same moment on
any machine. The one whose creation of the study succeeds records its search space; the others
wait for that record and compare theirs with it, so that two different spaces never share a
study.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine import signals
from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.study import STUDY_FILE, StudySpec
from torchsweep.trainer.atomic import write_text_atomic

# Seconds a launch that lost the race to create a study waits for the winner's search space.
CREATOR_GRACE = 30.0
_logger = logging.getLogger(__name__)


def record_space(study: optuna.Study, spec: StudySpec, root: Path, created: bool, *,
                 allow_change: bool = False) -> None:
    """Remember the space a study was created with (`created`: by this launch), and write it
    beside the study's trials; refuse a changed one unless `allow_change`."""
    recorded = attrs.fingerprint(study)
    if recorded is None and not created:
        recorded = _creators_fingerprint(study)
    fingerprint = spec.space.fingerprint()
    if recorded is not None and recorded != fingerprint and not allow_change:
        raise StudyError(f"study '{spec.name}' was created with a different search space; "
                         "use a new study name, or pass --allow-space-change to continue it")
    document = attrs.spec_document(study)
    # A function study records the function that ran it last, for `sweep worker` to import.
    if recorded != fingerprint or document is None or \
            document.get("function") != spec.function:
        attrs.record_space(study, fingerprint, spec.to_dict())
        import yaml

        write_text_atomic(root / spec.name / STUDY_FILE,
                          yaml.safe_dump(spec.to_dict(), sort_keys=False))


def _creators_fingerprint(study: optuna.Study) -> str | None:
    """The space of a study another launch created a moment ago, once it has recorded it. A
    study with trials and no space was not made by a launch of ours (nothing to wait for), nor
    is one whose creator died before recording it (waited for CREATOR_GRACE, then adopted)."""
    deadline = time.monotonic() + CREATOR_GRACE
    _logger.info("study '%s' was created by another launch a moment ago: waiting for its "
                 "search space", study.study_name)
    while not study.get_trials(deepcopy=False) and time.monotonic() < deadline:
        recorded = attrs.fingerprint(study)
        if recorded is not None:
            return recorded
        time.sleep(0.1)
        signals.check()
    return attrs.fingerprint(study)

