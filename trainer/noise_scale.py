"""The gradient noise scale, measured online during training (McCandlish et al. 2018, "An
empirical model of large-batch training", appendix A).

The simple noise scale B_noise = tr(Σ) / |G|² (Σ the per-example gradient covariance, G the
true gradient) is about the batch size beyond which a larger batch stops cutting the number of
optimizer steps: the critical batch size. It is estimated from the squared norms of two
gradients of one training step, one of a small part of its batch (the first b samples) and one
of the whole batch (size B); the loop measures every `noise_scale_every` steps:

    |G|²  ≈ (B |G_B|² - b |G_b|²) / (B - b)
    tr(Σ) ≈ (|G_b|² - |G_B|²) / (1/b - 1/B)

Each is unbiased but noisy, so each is averaged (an exponential moving average) on its own,
and the ratio is taken of the averages, not averaged itself. The estimate assumes SGD near a
point where the gradient changes slowly; under Adam, and early in training, it is biased.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


def small_batch(big: int) -> int:
    """b for a batch of `big` samples: a quarter of it (1/b - 1/B = 3/B keeps the two norms
    well apart), at least 1; 0 when the batch is too small to split (a single sample)."""
    return max(1, big // 4) if big >= 2 else 0


def backward_measured(loss, small_loss, parameters: list, scale: Callable = lambda loss: loss,
                      loss_scale: float = 1.0) -> tuple[float, float]:
    """One training step's backward pass that also measures |G_b|² and |G_B|².

    `loss` is the batch's mean loss, `small_loss` the mean loss of its first b samples, both
    from the same forward pass (so batch norm sees the whole batch, as it does unmeasured).
    The gradient of `small_loss` is taken aside (torch.autograd.grad, one more backward pass
    through the kept graph); then `loss` goes backward as in any step, so the gradients left in
    the parameters are the whole batch's, bit for bit what an unmeasured step leaves.
    `scale`/`loss_scale` are the fp16 gradient scaler's (the norms are divided by its factor).
    Returns (|G_b|², |G_B|²); either is inf or NaN when the scaled gradients overflowed.
    """
    import torch

    parameters = [p for p in parameters if p.requires_grad]
    small = torch.autograd.grad(scale(small_loss), parameters, retain_graph=True,
                                allow_unused=True)
    scale(loss).backward()
    norms = torch.stack([_squared_norm(small), _squared_norm([p.grad for p in parameters])])
    small_sq, big_sq = (norms / loss_scale ** 2).tolist()   # one read-back from the device
    return small_sq, big_sq


def _squared_norm(gradients):
    import torch

    return torch.stack([torch.sum(g.float() ** 2) for g in gradients if g is not None]).sum()
