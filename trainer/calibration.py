"""Calibration of a classifier's confidence, tallied batch by batch from the logits it produced.

Accuracy says how often the top class is right; calibration says whether the probability the
model gives it can be believed. Three numbers, over the validation split:

    nll             mean negative log-likelihood of the true class (plain cross-entropy: unlike
                    val_loss it ignores label smoothing, so runs with different eps compare)
    ece             expected calibration error (Guo et al. 2017): confidences split into
                    equal-width bins over [0, 1]; the share-weighted mean of |accuracy - mean
                    confidence| over the bins
    overconfidence  mean confidence minus accuracy: > 0 overconfident, < 0 underconfident

and, to tell calibration that training gave from calibration a cheap fix after training gives
(Müller et al. 2019 compare label smoothing with temperature scaling):

    temperature     the T that minimises the NLL of softmax(logits / T) on these samples
                    (Guo et al. 2017's temperature scaling, fitted on the same split)
    ece_tempered    the ECE after dividing the logits by T

`reliability()` gives the per-bin counts, mean confidences and accuracies a reliability diagram
draws. The sums stay on the logits' device, so a GPU is read back once per evaluation, not per
batch; the logits are kept (on the device) for the temperature fit.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ECE_BINS = 15  # Guo et al.'s choice, and what most papers report
# The temperature is searched on log T in [1/20, 20] by golden section: a fixed number of steps
# (the same answer on every device), each one NLL over the kept logits.
TEMPERATURE_RANGE = (-3.0, 3.0)   # natural log of T
TEMPERATURE_STEPS = 40


class CalibrationTally:
    def __init__(self, device: torch.device, bins: int = ECE_BINS):
        # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 cannot
        # occur after a softmax, so the first bin's open lower edge loses nothing.
        self._inner_edges = torch.linspace(0, 1, bins + 1, device=device)[1:-1]
        self._bins = bins
        # Per bin: [samples, sum of confidences, correct predictions].
        self._per_bin = torch.zeros(bins, 3, device=device)
        self._nll = torch.zeros((), device=device)
        self._logits: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        logits = logits.detach().float()
        log_probs = F.log_softmax(logits, dim=1)
        self._nll += F.nll_loss(log_probs, targets, reduction="sum")
        self._per_bin += self._binned(log_probs, targets)
        self._logits.append(logits)
        self._targets.append(targets)

    def _binned(self, log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[samples, sum of confidences, correct predictions] per confidence bin."""
        confidence, predicted = log_probs.max(dim=1)
        confidence = confidence.exp()
        in_bin = F.one_hot(torch.bucketize(confidence, self._inner_edges), self._bins).float()
        # A matrix product rather than index_add_, whose atomic adds on a GPU sum in a
        # different order each run: the same model must give the same metrics every time.
        return in_bin.T @ torch.stack(
            [torch.ones_like(confidence), confidence, (predicted == targets).float()], dim=1)

    def summary(self) -> dict[str, float]:
        """{'nll', 'ece', 'overconfidence', 'temperature', 'ece_tempered'} over everything added
        so far."""
        count, confidence, correct = self._per_bin.unbind(dim=1)
        total = count.sum()
        logits, targets = torch.cat(self._logits), torch.cat(self._targets)
        temperature = _fit_temperature(logits, targets)
        tempered = self._binned(F.log_softmax(logits / temperature, dim=1), targets)
        return {"nll": (self._nll / total).item(), "ece": _ece(self._per_bin).item(),
                "overconfidence": ((confidence.sum() - correct.sum()) / total).item(),
                "temperature": temperature, "ece_tempered": _ece(tempered).item()}

    def reliability(self) -> dict[str, list[float]]:
        """Per confidence bin: samples, mean confidence and accuracy (None for an empty bin)."""
        count, confidence, correct = self._per_bin.unbind(dim=1)
        return {"count": count.tolist(),
                "confidence": [c / n if n else None for c, n in zip(confidence.tolist(),
                                                                      count.tolist())],
                "accuracy": [a / n if n else None for a, n in zip(correct.tolist(),
                                                                    count.tolist())]}


def _ece(per_bin: torch.Tensor) -> torch.Tensor:
    count, confidence, correct = per_bin.unbind(dim=1)
    return (confidence - correct).abs().sum() / count.sum()


def _fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T): golden-section search on log T (the
    NLL is convex in 1/T, so this finds its one minimum in the range)."""
    def nll(log_t: float) -> float:
        return F.cross_entropy(logits / math.exp(log_t), targets).item()

    low, high = TEMPERATURE_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    nll_left, nll_right = nll(left), nll(right)
    for _ in range(TEMPERATURE_STEPS):
        if nll_left <= nll_right:
            high, right, nll_right = right, left, nll_left
            left = high - ratio * (high - low)
            nll_left = nll(left)
        else:
            low, left, nll_left = left, right, nll_right
            right = low + ratio * (high - low)
            nll_right = nll(right)
    return math.exp((low + high) / 2)
