"""Evaluations within epochs: the same steps for every batch size, a stop between two epochs,
and training that they leave exactly as it was."""
import json

import pytest
from cli_helpers import without_timing

from torchsweep.trainer.checkpoint import load_checkpoint
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.evaluations import positions
from torchsweep.trainer.files import EVALUATIONS, LAST, METRICS
from torchsweep.trainer.loop import fit

BASE = TrainConfig(epochs=2, threads=1, device="cpu", evaluations_per_epoch=4)
SPLIT = 1437   # digits' training split at val_fraction 0.2


def test_positions_are_even_shares_ending_at_the_split():
    assert positions(SPLIT, 4) == [359, 718, 1078, 1437]
    assert positions(SPLIT, 1) == [SPLIT]
    assert positions(3, 8) == [1, 2, 3]   # a split smaller than E has fewer positions


@pytest.mark.parametrize("batch_size", [16, 1024])
def test_every_batch_size_reports_the_same_steps(batch_size):
    heard = []
    result = fit(BASE.replace(batch_size=batch_size), evaluation_callbacks=[heard.append])
    # A pass at every quarter of the split, reported at the quarter itself.
    expected = [359, 718, 1078, 1437, 1796, 2155, 2515, 2874]
    assert [row["samples"] for row in heard] == expected
    assert [row["samples"] for row in result.evaluations] == expected
    assert [row["epoch"] for row in heard] == [round(s / SPLIT, 6) for s in expected]
    for row in heard:
        # ran once the count crossed the position, within one batch of it
        assert row["samples"] <= row["samples_seen"] < row["samples"] + batch_size
        assert 0 <= row["val_acc"] <= 1 and row["steps"] >= 1
    # the row at an epoch's end is that epoch's metrics
    ends = [row for row in heard if row["samples"] % SPLIT == 0]
    assert without_timing(ends) == without_timing(
        [{**m, "epoch": float(m["epoch"]), "samples": m["samples_seen"]} for m in result.history])


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_evaluating_within_epochs_leaves_training_as_it_was(loader):
    once = fit(BASE.replace(evaluations_per_epoch=1, loader=loader))
    often = fit(BASE.replace(evaluations_per_epoch=5, loader=loader))
    assert without_timing(once.history) == without_timing(often.history)
    assert len(once.evaluations) == 2 and len(often.evaluations) == 10


def test_a_callback_stops_the_run_within_an_epoch(tmp_path):
    heard = []

    def stop_at_a_quarter_past_one(row):
        heard.append(row["samples"])
        return row["samples"] >= SPLIT + 359

    result = fit(BASE.replace(epochs=3, batch_size=64), out_dir=tmp_path,
                 evaluation_callbacks=[stop_at_a_quarter_past_one])
    assert result.status == "stopped" and heard == [359, 718, 1078, 1437, 1796]
    # one whole epoch in the history and the checkpoint; the part after it counted as trained
    assert result.epochs_run == 1 and load_checkpoint(tmp_path / LAST)["epoch"] == 1
    assert len((tmp_path / METRICS).read_text().splitlines()) == 1
    assert result.samples_trained == 1437 + 384   # six batches of 64 into the second epoch
    written = [json.loads(line) for line in (tmp_path / EVALUATIONS).read_text().splitlines()]
    assert [row["samples"] for row in written] == heard
