"""`sweep report` with repeats, the gradient noise scale and calibration beyond ECE: the
analyses on known numbers (test_report.py opens real studies' pages with them in Chromium)."""
import pytest
from test_report import history

from torchsweep.sweeps.readout.report.batch_size_plots import batch_size_plots, lr_tuning
from torchsweep.sweeps.readout.report.batch_answer import Tried, critical_batch_answer
from torchsweep.sweeps.readout.report.noise_scale_plot import verdict
from torchsweep.sweeps.readout.report.smoothing_plots import points, trade_off
from torchsweep.sweeps.readout.stats import interval
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.goal import Goal

# --- on known numbers ------------------------------------------------------------------------

def test_the_t_interval_of_three_seeds():
    spread = interval([0.8, 0.9, 1.0])
    assert spread.mean == pytest.approx(0.9) and spread.std == pytest.approx(0.1)
    # t(0.975, 2) = 4.303: the interval is 4.303 * 0.1 / sqrt(3) either side.
    assert spread.high - spread.mean == pytest.approx(4.303 * 0.1 / 3 ** 0.5, rel=1e-3)
    assert interval([0.5]).low is None and interval([0.5]).text() == "0.5"


def test_noise_scale_and_fit_agree_within_a_factor_of_two():
    answer = critical_batch_answer([Tried(b, (40 * (1 + 64 / b) * slower,), 1.0)
                                    for b in (16, 64, 256) for slower in (1, 1.2)])
    assert "they agree (a factor of 1.5 apart" in verdict(96.0, 3, answer)
    assert "they do not agree (a factor of 4.0 apart" in verdict(16.0, 3, answer)
    assert "no estimate at the target" in verdict(None, 0, answer)


def repeated(number, batch_size, steps, lr, noise):
    """A trial with two seeds, the second reaching the target 20% later."""
    trial = history(number, "completed", batch_size, steps, lr=lr)
    for row in trial.epochs:
        row["grad_noise_scale"] = noise * row["epoch"]
    trial.seed_epochs = [history(number, "completed", batch_size, steps * 1.2, lr=lr).epochs]
    return trial


def test_batch_size_curve_has_error_bars_and_says_whether_lr_was_tuned():
    sizes = [16, 64, 256]
    trials = [repeated(i, b, 40 * (1 + 64 / b), 0.1, 50) for i, b in enumerate(sizes)]
    steps, noise, _, _ = batch_size_plots(trials, "val_acc", Goal.MAXIMIZE, 0.9)
    best = next(t for t in steps.figure.data if t.name == "fewest steps")
    assert best.error_y.visible and all(bar > 0 for bar in best.error_y.array)
    one_seed = [history(i, "completed", b, 40 * (1 + 64 / b)) for i, b in enumerate(sizes)]
    (steps_of_one, *_) = batch_size_plots(one_seed, "val_acc", Goal.MAXIMIZE, 0.9)
    assert not next(t for t in steps_of_one.figure.data if t.name == "fewest steps").error_y.visible
    assert "one standard deviation over a trial's seeds" in steps.caption
    assert "not tuned per batch size" in steps.caption and "Shallue" in steps.caption
    assert noise.figure is not None and "estimate" in noise.caption and "Adam" in noise.caption
    assert "noise scale was ≈ 100 samples" in noise.caption   # epoch 2 reached it: 50 * 2
    tuned = trials + [repeated(5 + i, b, 500, 0.3, 50) for i, b in enumerate(sizes)]
    assert "was tuned per batch size: 2 to 2 learning rates trained at each" in lr_tuning(tuned)


def smoothed(number, smoothing, accuracies, ece):
    rows = [[{"epoch": 1, "val_acc": acc, "val_ece": ece, "val_ece_tempered": ece / 2,
              "val_overconfidence": 0.0}] for acc in accuracies]
    return TrialRecord(number, "completed", {"label_smoothing": smoothing},
                       {"label_smoothing": smoothing}, rows[0], seed_epochs=rows[1:])


def test_the_trade_off_sentence_is_computed_from_the_trials():
    trials = [smoothed(0, 0.0, [0.90, 0.92], 0.08), smoothed(1, 0.1, [0.93, 0.95], 0.03),
              smoothed(2, 0.3, [0.80, 0.82], 0.20)]
    sentence = trade_off(points(trials, "val_acc", Goal.MAXIMIZE), "val_acc", Goal.MAXIMIZE)
    assert sentence.startswith("Best smoothing ε = 0.1: val_acc 0.94 ± ")
    assert "(95% t interval over 2 seeds)" in sentence
    assert "against ε = 0: accuracy 0.91 → 0.94, ECE 0.08 → 0.03, ECE after temperature " \
           "scaling 0.04 → 0.015." in sentence
    one_seed = [TrialRecord(t.number, t.state, t.params, t.config, t.epochs) for t in trials]
    assert "one seed, so no interval" in trade_off(points(one_seed, "val_acc", Goal.MAXIMIZE),
                                                   "val_acc", Goal.MAXIMIZE)
