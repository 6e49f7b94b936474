"""A storage call rides out a lost connection on PostgreSQL, MariaDB and Redis, and a write whose
reply was lost is checked, never blindly redone. The machine's real servers answer, through a
proxy that fails the network on cue (fault_proxy): an outage, or a reply lost after the server
committed the request (or before it reached the server)."""
from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest
from fault_proxy import FaultProxy
from needs import MARIADB, POSTGRES, REDIS, needs_server
from optuna.trial import TrialState

from torchsweep.sweeps.engine import _optuna, trial_queue
from torchsweep.sweeps.errors import StorageLost
from torchsweep.sweeps.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
# What each server's driver sends to make a write stick: a transaction's COMMIT, or the EVAL
# that appends an entry to Optuna's journal on Redis; and what a change of a trial's state
# sends before it (reads commit too).
COMMITS = {POSTGRES: b"COMMIT", MARIADB: b"COMMIT", REDIS: b"EVAL"}
STATE_CHANGES = {POSTGRES: b"UPDATE trials SET", MARIADB: b"UPDATE trials SET", REDIS: None}
LOGGER = "torchsweep.sweeps.storage.resilient"


@pytest.fixture(params=list(COMMITS), ids=["postgresql", "mariadb", "redis"])
def server(request):
    """(proxy, (commit marker, state change marker), a new study through the proxy, the same
    study not through it)."""
    url = request.param
    needs_server(url)
    proxy = FaultProxy(url)
    name = f"test_{uuid.uuid4().hex[:10]}"
    study = optuna.create_study(storage=open_storage(proxy.url, create=True, grace=60),
                                study_name=name)
    direct = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    yield proxy, (COMMITS[url], STATE_CHANGES[url]), study, direct
    proxy.close()
    optuna.delete_study(study_name=name, storage=open_storage(url, create=False))


def queued(study: optuna.Study) -> None:
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))


def in_background(call):
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def said(caplog, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and words in r.getMessage()]


def test_a_call_waits_out_an_outage_and_says_so_once_each_way(server, caplog):
    proxy, _, study, _ = server
    queued(study)
    caplog.set_level(logging.WARNING, LOGGER)
    proxy.down()
    reading = in_background(lambda: study.get_trials(deepcopy=False))
    while not said(caplog, "unreachable"):
        assert not reading.done(), reading.result()
        threading.Event().wait(0.05)
    proxy.up()
    assert len(reading.result(timeout=60)) == 1
    unreachable, = said(caplog, "unreachable")
    assert "retrying for up to 60 s (--storage-grace)" in unreachable
    assert len(said(caplog, "is back after")) == 1


def test_past_the_grace_a_call_gives_up_in_one_line(server):
    proxy, _, study, _ = server
    grace_of_one = open_storage(proxy.url, create=False, grace=1)
    proxy.down()
    with pytest.raises(StorageLost) as lost:
        grace_of_one.get_all_studies()
    assert "unreachable for 1 s" in str(lost.value) and "--storage-grace 1" in str(lost.value)
    assert "\n" not in str(lost.value)


def test_a_storage_unreachable_when_opened_is_named_with_its_password_masked(server):
    proxy = server[0]
    scheme, rest = proxy.url.split("://")
    proxy.down()
    with pytest.raises(StorageLost) as lost:
        open_storage(f"{scheme}://someone:pw-in-url@{rest.split('@')[-1]}", create=False, grace=1)
    assert f"{scheme}://someone:***@127.0.0.1:" in str(lost.value)
    assert "pw-in-url" not in str(lost.value) and "\n" not in str(lost.value)


def test_a_creation_whose_reply_was_lost_creates_one_trial(server):
    proxy, (commit, _), study, direct = server
    proxy.lose_reply(commit, landed=True)
    creating = in_background(lambda: queued(study))
    assert proxy.tripped.wait(30)
    assert len(direct.get_trials()) == 1         # it landed...
    proxy.up()
    creating.result(timeout=60)
    assert len(direct.get_trials()) == 1         # ...and was not made again


def test_a_tell_whose_reply_was_lost_is_not_told_again(server):
    proxy, (commit, state_change), study, direct = server
    queued(study)
    trial = trial_queue.claim(study)
    proxy.lose_reply(commit, landed=True, after=state_change)
    telling = in_background(lambda: study.tell(trial, 0.25))
    assert proxy.tripped.wait(30)
    proxy.up()
    telling.result(timeout=60)        # not "trial 0 has already finished"
    told, = direct.get_trials()
    assert told.state == TrialState.COMPLETE and told.value == 0.25


def test_a_claim_that_did_not_land_leaves_the_trial_to_the_worker_that_claimed_it(server):
    proxy, (commit, state_change), study, direct = server
    queued(study)
    waiting, = study.get_trials()
    proxy.lose_reply(commit, landed=False, after=state_change)
    claiming = in_background(lambda: _optuna.claim(study, waiting))
    assert proxy.tripped.wait(30)
    assert direct.get_trials()[0].state == TrialState.WAITING    # it did not land...
    assert _optuna.claim(direct, waiting) is not None            # ...another worker claims it
    proxy.up()
    assert claiming.result(timeout=60) is None                   # and it is that worker's


def test_a_signal_that_broke_a_storage_call_reaches_the_engine_not_the_retries():
    """SIGTERM (a Slurm requeue) landing in a database call: the driver raises its own "lost
    connection" error on top of our Stopped. That is a stop, not an outage: retried, the trial
    would train on and finish instead of being given back as preempted."""
    import signal

    import sqlalchemy.exc

    from torchsweep.sweeps.engine.signals import Stopped
    from torchsweep.sweeps.storage import faults
    from torchsweep.sweeps.storage.resilient import ResilientStorage

    calls = []

    def broken_by_a_signal():
        calls.append(1)
        try:
            raise Stopped(signal.SIGTERM)
        except Stopped:
            raise sqlalchemy.exc.OperationalError(
                "SELECT 1", {}, Exception("server closed the connection unexpectedly")) from None

    storage = ResilientStorage(optuna.storages.InMemoryStorage(), "postgresql://h/db", grace=30)
    with pytest.raises(Stopped, match="preempted by SIGTERM"):
        storage._retried(broken_by_a_signal)
    assert calls == [1]                      # tried once: no backoff, no "unreachable" line
