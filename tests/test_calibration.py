"""Calibration (ECE, NLL, overconfidence) on hand-computed cases, and the per-epoch metrics
`fit` adds for the batch-size and label-smoothing questions."""
import math

import pytest
import torch
import torch.nn.functional as F

from torchsweep.trainer.calibration import ECE_BINS, CalibrationTally
from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.loop import fit

CPU = torch.device("cpu")


def two_class_logits(confidences):
    """Logits whose softmax gives class 0 each confidence (all above 1/2, so class 0 wins)."""
    p = torch.tensor(confidences, dtype=torch.float64)
    return torch.stack([p.log(), (1 - p).log()], dim=1)


def tally(logits, targets):
    calibration = CalibrationTally(CPU)
    calibration.add(logits, targets)
    return calibration.summary()


def reference_ece(logits, targets, bins=ECE_BINS):
    """Guo et al.'s definition, written the slow obvious way."""
    probabilities = logits.double().softmax(1)
    confidence, predicted = probabilities.max(1)
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            accuracy = (predicted[inside] == targets[inside]).double().mean()
            total += inside.double().mean() * abs(accuracy - confidence[inside].mean())
    return float(total)


def test_hand_computed_case():
    # Two predictions at 0.9 (one right) and two at 0.65 (both right).
    logits = two_class_logits([0.9, 0.9, 0.65, 0.65])
    targets = torch.tensor([0, 1, 0, 0])
    result = tally(logits, targets)
    # |1.8 - 1| + |1.3 - 2| over 4 samples
    assert result["ece"] == pytest.approx((0.8 + 0.7) / 4)
    assert result["overconfidence"] == pytest.approx((3.1 - 3) / 4)
    assert result["nll"] == pytest.approx(-(2 * math.log(0.65) + math.log(0.9)
                                            + math.log(0.1)) / 4)


def test_calibrated_predictions_have_no_error():
    # Within each bin, accuracy equals confidence: 0.75 confident, 3 of 4 right.
    result = tally(two_class_logits([0.75] * 4), torch.tensor([0, 0, 0, 1]))
    assert result["ece"] == pytest.approx(0, abs=1e-6)
    assert result["overconfidence"] == pytest.approx(0, abs=1e-6)


def test_matches_the_reference_and_cross_entropy_on_random_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=generator) * 3
    targets = torch.randint(0, 10, (500,), generator=generator)
    result = tally(logits, targets)
    assert result["ece"] == pytest.approx(reference_ece(logits, targets), abs=1e-5)
    assert result["nll"] == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-5)
    probabilities = logits.softmax(1)
    accuracy = (probabilities.argmax(1) == targets).float().mean()
    assert result["overconfidence"] == pytest.approx(
        (probabilities.max(1).values.mean() - accuracy).item(), abs=1e-5)


def test_batches_add_up_to_the_whole():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(300, 5, generator=generator) * 2
    targets = torch.randint(0, 5, (300,), generator=generator)
    split = CalibrationTally(CPU)
    for chunk in range(0, 300, 64):
        split.add(logits[chunk:chunk + 64].bfloat16(), targets[chunk:chunk + 64])
    whole = tally(logits.bfloat16(), targets)
    assert split.summary() == pytest.approx(whole, abs=1e-6)


# --- what fit reports every epoch ----------------------------------------------------------

@pytest.fixture(scope="module")
def runs():
    base = TrainConfig(epochs=2, threads=1, batch_size=100)
    return fit(base), fit(base.replace(label_smoothing=0.3))


def test_running_totals_of_steps_samples_and_time(runs):
    plain, _ = runs
    train_size = 1437                         # digits: 1797 samples, 20% held out
    steps_per_epoch = math.ceil(train_size / 100)
    for epoch, metrics in enumerate(plain.history, start=1):
        assert metrics["steps"] == epoch * steps_per_epoch
        assert metrics["samples_seen"] == epoch * train_size
    seconds = [m["epoch_seconds"] for m in plain.history]
    assert [m["wall_seconds"] for m in plain.history] == pytest.approx(
        [seconds[0], seconds[0] + seconds[1]])


def test_calibration_of_every_epoch(runs):
    plain, smoothed = runs
    for metrics in plain.history + smoothed.history:
        assert 0 <= metrics["val_ece"] <= 1 and metrics["val_nll"] > 0
        assert -1 <= metrics["val_overconfidence"] <= 1
    # Without smoothing the validation loss is the NLL; with it the loss is larger, the NLL
    # still the plain one, and smoothing's soft targets leave the model less confident.
    assert plain.history[-1]["val_nll"] == pytest.approx(plain.history[-1]["val_loss"], rel=1e-5)
    assert smoothed.history[-1]["val_loss"] > smoothed.history[-1]["val_nll"]
    assert smoothed.history[-1]["val_overconfidence"] < plain.history[-1]["val_overconfidence"]


def test_temperature_scaling_and_reliability_of_every_run(runs):
    for run in runs:
        for metrics in run.history:
            assert 0 <= metrics["val_ece_tempered"] <= 1 and metrics["val_temperature"] > 0
        # Temperature scaling fits the NLL, not the ECE, but on these runs it cuts both.
        assert run.best["val_ece_tempered"] < run.best["val_ece"]
        # The reliability diagram is the best epoch's: its bins hold the 360 validation
        # samples, and their gaps add up to that epoch's ECE.
        diagram = run.best_reliability
        assert sum(diagram["count"]) == 360 and len(diagram["accuracy"]) == ECE_BINS
        gaps = sum(n * abs(c - a) for n, c, a in zip(diagram["count"], diagram["confidence"],
                                                     diagram["accuracy"]) if n)
        assert gaps / 360 == pytest.approx(run.best["val_ece"], abs=1e-5)


def test_temperature_scaling_undoes_an_overconfident_scale_of_the_logits():
    """Labels drawn from softmax(z) but logits reported as 3z: the fitted temperature is the
    factor 3, and the ECE after dividing by it is small where the raw one is large."""
    generator = torch.Generator().manual_seed(0)
    calibrated = torch.randn(4000, 10, generator=generator)
    targets = torch.distributions.Categorical(logits=calibrated).sample()
    tally = CalibrationTally(torch.device("cpu"))
    for chunk in range(4):                       # batch by batch, as an evaluation adds them
        rows = slice(chunk * 1000, (chunk + 1) * 1000)
        tally.add(3 * calibrated[rows], targets[rows])
    summary = tally.summary()
    assert summary["temperature"] == pytest.approx(3.0, rel=0.05)
    assert summary["ece"] > 0.3 and summary["ece_tempered"] < 0.03
    reliability = tally.reliability()
    assert sum(reliability["count"]) == 4000 and len(reliability["accuracy"]) == ECE_BINS
    filled = [i for i, n in enumerate(reliability["count"]) if n]
    # Overconfident: in every well-filled bin the accuracy sits below the confidence.
    assert all(reliability["accuracy"][i] < reliability["confidence"][i] for i in filled
               if reliability["count"][i] > 100)
