"""bench/tabular: a table written and read back, and sweep replayed against it by the trainer
stand-in, through sweep's own orchestration (sampler, pruner, queue) with no training."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "tabular"))
from replay_sweep import replay  # noqa: E402
from standin import TableTrainer, snap  # noqa: E402
from table import Table, synthetic  # noqa: E402


def test_a_table_reads_back_as_written(tmp_path):
    table = synthetic(epochs=3)
    back = Table.read(table.write(tmp_path / "t.json.gz"))
    params = {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}
    assert back.curve(params) == table.curve(params) and len(back.curve(params)) == 6
    assert back.epoch_curve(params) == back.curve(params)[1::2]
    assert back.steps == [718, 1437, 2156, 2874, 3592, 4311]
    assert (tmp_path / "t.json.gz").read_bytes() == table.write(tmp_path / "u.json.gz").read_bytes()


def test_a_draw_between_grid_points_is_snapped_to_the_nearest():
    assert snap(0.003, [0.001, 0.01, 0.1]) == 0.001     # below 0.0032, the geometric mean
    assert snap(0.004, [0.001, 0.01, 0.1]) == 0.01
    assert snap(0.06, [0.0, 0.1]) == 0.1                 # a linear grid
    assert snap("adam", ["sgd", "adam"]) == "adam"


def test_the_stand_in_stops_where_the_stored_run_diverged_as_fit_does():
    trainer, told = TableTrainer("synthetic", synthetic(epochs=4)), []
    result = trainer({"lr": 0.1, "batch_size": 16, "optimizer": "adam"},
                     evaluation_callbacks=[lambda row: told.append(row["samples"])])
    assert result.status == "diverged" and result.epochs_run == 2 and result.best_epoch == 1
    assert told == [718, 1437, 2156]          # the diverged epoch's end is told to no one
    assert trainer.epochs_trained == pytest.approx(2874 / 1437)


def test_sweep_replays_against_the_table_and_prunes_on_its_curves():
    table = synthetic(epochs=6)
    trainer = TableTrainer("synthetic", table)
    out = replay("synthetic", seed=0, trials=24, trainer=trainer)
    epochs = [e for e, _ in out["trace"]]
    bests = [b for _, b in out["trace"] if b is not None]
    assert out["trials"] == 24 and out["pruner"] == "successive_halving"
    assert 0 < out["pruned"] < 24            # sweep's default pruner cut trials on the curves
    assert epochs == sorted(epochs) and epochs[-1] == pytest.approx(trainer.epochs_trained)
    assert epochs[-1] < 24 * 6               # pruned trials trained part of their epochs
    assert bests == sorted(bests)
    assert bests[-1] <= max(table.best(c["params"]) for c in table)
