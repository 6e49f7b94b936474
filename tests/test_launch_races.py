"""Launches that race: `sweep run` and `sweep create` of one study started at the same moment,
on the embedded journal and on a new PostgreSQL database (a private cluster: Optuna's tables
are made by whichever launch gets there first)."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest
from cli_helpers import one_line_error
from private_postgres import PrivatePostgres
from worker_helpers import QUIET, TINY_SPACE, finish, start, trials

from torchsweep.sweeps import attrs
from torchsweep.sweeps.engine.run_options import RunOptions
from torchsweep.sweeps.engine import space_record
from torchsweep.sweeps.engine.orchestrate import create_study
from torchsweep.sweeps.errors import StudyError
from torchsweep.sweeps.storage import open_storage, storage_url
from torchsweep.sweeps.study import resolve

RACE = space_record.__name__   # the logger of the module that waits for a winner's space


@pytest.fixture(scope="module")
def postgres():
    cluster = PrivatePostgres()
    yield cluster
    cluster.close()


@pytest.fixture(params=["journal", "postgresql"])
def storage(request, postgres, tmp_path):
    """Where the racing launches keep the study: the embedded journal (None), or a database
    that has no tables yet."""
    if request.param == "journal":
        return None
    return postgres.create_database(f"race_{tmp_path.name.lower().replace('-', '_')}")


def storage_args(url: str | None) -> tuple:
    return ("--storage", url) if url else ()


def test_two_runs_started_together_run_both_their_trials_in_one_study(storage, tmp_path):
    launches = [start("run", "race", *TINY_SPACE, "--trials", 3, "--root", tmp_path,
                      *storage_args(storage), *QUIET) for _ in range(2)]
    for launch in launches:
        code, _, err = finish(launch, timeout=240)
        assert code == 0, err
        assert "Traceback" not in err
    found = trials("race", tmp_path, storage)
    assert sorted(t.number for t in found) == list(range(6))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in found)
    studies = open_storage(storage_url(tmp_path, storage), create=False).get_all_studies()
    assert [s.study_name for s in studies] == ["race"]


def test_two_creates_of_one_name_with_different_spaces_one_wins(tmp_path):
    spaces = ("lr=log:0.01..0.2", "lr=log:0.001..0.01")
    launches = [start("create", "race", "--param", space, "--root", tmp_path)
                for space in spaces]
    results = [finish(launch, timeout=240) for launch in launches]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    code, out, err = next(result for result in results if result[0] == 2)
    one_line_error(_Result(code, out, err), 2, "study 'race' was created with a different "
                                               "search space")


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_a_create_that_lost_the_race_compares_its_space_with_the_winners(tmp_path, caplog):
    """The winner has created the study and not yet recorded its space when the loser looks:
    the loser waits for it, and refuses its own different space."""
    winner = resolve("race", tmp_path, ["lr=log:0.01..0.2"], [])
    loser = resolve("race", tmp_path, ["lr=log:0.001..0.01"], [])
    url = storage_url(tmp_path, None)
    created = optuna.create_study(storage=open_storage(url, create=True), study_name="race",
                                  direction="maximize")
    caplog.set_level(logging.INFO, RACE)
    waiting = threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record):
            if "waiting for its search space" in record.getMessage():
                waiting.set()

    logging.getLogger(RACE).addHandler(handler := Waiting())
    try:
        with ThreadPoolExecutor(1) as pool:
            losing = pool.submit(create_study, loser, RunOptions(root=tmp_path))
            assert waiting.wait(60), losing.exception(timeout=0)
            # What the winner records after creating the study.
            created.set_user_attr(attrs.FINGERPRINT, winner.space.fingerprint())
            created.set_user_attr(attrs.SPEC, winner.to_dict())
            with pytest.raises(StudyError, match="created with a different search space"):
                losing.result(timeout=60)
    finally:
        logging.getLogger(RACE).removeHandler(handler)
    assert created.user_attrs[attrs.FINGERPRINT] == winner.space.fingerprint()
