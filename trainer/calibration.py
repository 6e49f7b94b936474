"""Calibration of a classifier's confidence, tallied batch by batch from the logits it produced.

Accuracy says how often the top class is right; calibration says whether the probability the
model gives it can be believed. Three numbers, over the validation split:

    nll             mean negative log-likelihood of the true class (plain cross-entropy: unlike
                    val_loss it ignores label smoothing, so runs with different eps compare)
    ece             expected calibration error (Guo et al. 2017): confidences split into
                    equal-width bins over [0, 1]; the share-weighted mean of |accuracy - mean
                    confidence| over the bins
    overconfidence  mean confidence minus accuracy: > 0 overconfident, < 0 underconfident

The sums stay on the logits' device, so a GPU is read back once per evaluation, not per batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ECE_BINS = 15  # Guo et al.'s choice, and what most papers report


class CalibrationTally:
    def __init__(self, device: torch.device, bins: int = ECE_BINS):
        # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 cannot
        # occur after a softmax, so the first bin's open lower edge loses nothing.
        self._inner_edges = torch.linspace(0, 1, bins + 1, device=device)[1:-1]
        self._bins = bins
        # Per bin: [samples, sum of confidences, correct predictions].
        self._per_bin = torch.zeros(bins, 3, device=device)
        self._nll = torch.zeros((), device=device)

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        log_probs = F.log_softmax(logits.float(), dim=1)
        self._nll += F.nll_loss(log_probs, targets, reduction="sum")
        confidence, predicted = log_probs.max(dim=1)
        confidence = confidence.exp()
        in_bin = F.one_hot(torch.bucketize(confidence, self._inner_edges), self._bins).float()
        # A matrix product rather than index_add_, whose atomic adds on a GPU sum in a
        # different order each run: the same model must give the same metrics every time.
        self._per_bin += in_bin.T @ torch.stack(
            [torch.ones_like(confidence), confidence, (predicted == targets).float()], dim=1)

    def summary(self) -> dict[str, float]:
        """{'nll', 'ece', 'overconfidence'} over everything added so far."""
        count, confidence, correct = self._per_bin.unbind(dim=1)
        total = count.sum()
        gap = (confidence - correct).abs().sum() / total
        overconfidence = (confidence.sum() - correct.sum()) / total
        return {"nll": (self._nll / total).item(), "ece": gap.item(),
                "overconfidence": overconfidence.item()}
