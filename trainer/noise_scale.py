"""The gradient noise scale, measured online during training (McCandlish et al. 2018, "An
empirical model of large-batch training", appendix A).

The simple noise scale B_noise = tr(Σ) / |G|² (Σ the per-example gradient covariance, G the
true gradient) is about the batch size beyond which a larger batch stops cutting the number of
optimizer steps: the critical batch size. It is estimated from the squared norms of two
gradients the training step computes anyway, one of a small batch (size b) and one of the
whole batch (size B):

    |G|²  ≈ (B |G_B|² - b |G_b|²) / (B - b)
    tr(Σ) ≈ (|G_b|² - |G_B|²) / (1/b - 1/B)

Each is unbiased but noisy, so each is averaged (an exponential moving average) on its own,
and the ratio is taken of the averages, not averaged itself. The estimate assumes SGD near a
point where the gradient changes slowly; under Adam, and early in training, it is biased.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

EMA_DECAY = 0.95   # weight of the past in each average: about the last 20 measurements count


@dataclass
class NoiseScale:
    """The running averages of |G|² and tr(Σ), and their ratio."""

    # Exponential moving averages started at 0: both have taken the same number of values, so
    # their ratio needs no bias correction (the first values do not weigh more than they should).
    true_gradient_sq: float = 0.0   # EMA of |G|² estimates
    trace_covariance: float = 0.0   # EMA of tr(Σ) estimates
    measurements: int = 0
    decay: float = EMA_DECAY

    def add(self, small_sq: float, small: int, big_sq: float, big: int) -> None:
        """One measurement: |G_b|² of the first `small` samples, |G_B|² of all `big`."""
        if not 0 < small < big:
            raise ValueError(f"need 0 < small < big batch, got {small} and {big}")
        gradient_sq = (big * big_sq - small * small_sq) / (big - small)
        trace = (small_sq - big_sq) / (1 / small - 1 / big)
        self.true_gradient_sq = self._ema(self.true_gradient_sq, gradient_sq)
        self.trace_covariance = self._ema(self.trace_covariance, trace)
        self.measurements += 1

    @property
    def value(self) -> float | None:
        """B_noise in samples; None before a measurement, or while |G|² averages to <= 0
        (the gradient too small against its noise to say)."""
        if self.measurements == 0 or self.true_gradient_sq <= 0:
            return None
        return self.trace_covariance / self.true_gradient_sq

    def state_dict(self) -> dict:
        return {"true_gradient_sq": self.true_gradient_sq,
                "trace_covariance": self.trace_covariance, "measurements": self.measurements}

    def load_state_dict(self, state: dict) -> None:
        self.true_gradient_sq = state["true_gradient_sq"]
        self.trace_covariance = state["trace_covariance"]
        self.measurements = state["measurements"]


    def _ema(self, average: float, value: float) -> float:
        return self.decay * average + (1 - self.decay) * value


def backward_measured(model, criterion, inputs, targets, small: int,
                      autocast: Callable[[], Any], loss_scale: float = 1.0,
                      backward: Callable[[Any], None] = lambda loss: loss.backward()):
    """One training step's backward pass that also measures |G_b|² and |G_B|².

    The batch is split in two micro-batches, the first of `small` samples; each one's mean
    loss is weighted by its share, so the gradients accumulated in the parameters are the
    whole batch's, exactly as one backward pass would leave them (up to float rounding).
    Returns the batch's loss and outputs, |G_b|² and |G_B|². `loss_scale` is the gradient
    scaler's factor (fp16), which the norms are divided by.
    """
    import torch

    parameters = [p for p in model.parameters() if p.requires_grad]
    total, rest = len(targets), len(targets) - small
    with autocast():
        head = model(inputs[:small])
        head_loss = criterion(head, targets[:small]) * (small / total)
    backward(head_loss)
    small_sq = _squared_norm(parameters) * (total / small) ** 2 / loss_scale ** 2
    with autocast():
        tail = model(inputs[small:])
        tail_loss = criterion(tail, targets[small:]) * (rest / total)
    backward(tail_loss)
    big_sq = _squared_norm(parameters) / loss_scale ** 2
    return head_loss.detach() + tail_loss.detach(), torch.cat([head, tail]), small_sq, big_sq


def _squared_norm(parameters) -> float:
    import torch

    return float(sum(torch.sum(p.grad.float() ** 2) for p in parameters if p.grad is not None))
