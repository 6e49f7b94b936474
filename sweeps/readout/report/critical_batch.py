"""The critical batch size: past it, doubling the batch no longer halves the steps to a target.

McCandlish et al. (2018, "An empirical model of large-batch training") found that the fewest
steps S needed to reach a target at batch size B follow

    S(B) = S_min * (1 + B_crit / B)

Well below B_crit doubling the batch halves the steps (perfect scaling); well above it the
steps stay near S_min however large the batch (no more gain). B_crit, where the two regimes
meet, is the critical batch size. S is linear in 1/B (S = S_min + E_min / B, E_min = S_min *
B_crit the fewest samples), so both numbers come from a least-squares line, weighted by
1/S so that each batch size counts by its relative error, not by its raw step count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BATCH_SIZES = 3  # a line through two points tells nothing about the bend


@dataclass(frozen=True)
class CriticalBatchFit:
    critical_batch_size: float | None  # None when it lies outside the batch sizes tried
    min_steps: float                   # S_min: steps at an unlimited batch
    min_samples: float                 # E_min: samples at a batch of one
    verdict: str                       # one sentence a reader can act on

    def steps(self, batch_size: float) -> float:
        return self.min_steps + self.min_samples / batch_size


def fit_critical_batch(batch_sizes: list[float], steps: list[float]) -> CriticalBatchFit | None:
    """Fit S(B) to the fewest steps per batch size; None with fewer than three batch sizes."""
    if len(batch_sizes) < MIN_BATCH_SIZES:
        return None
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    min_steps, min_samples = _fit(s, np.ones_like(b), 1.0 / b)
    smallest, largest = int(b.min()), int(b.max())
    # Outside the batch sizes tried the bend is an extrapolation: say on which side it lies.
    if min_steps <= 0 or min_samples / min_steps > largest:
        (proportional,) = _fit(s, 1.0 / b)
        return CriticalBatchFit(None, 0.0, proportional, (
            f"doubling the batch still about halved the steps up to {largest}: the critical "
            f"batch size is above {largest}"))
    if min_samples <= 0 or min_samples / min_steps < smallest:
        (flat,) = _fit(s, np.ones_like(b))
        return CriticalBatchFit(None, flat, 0.0, (
            f"steps to target hardly fell with batch size: the critical batch size is at or "
            f"below {smallest}"))
    critical = min_samples / min_steps
    return CriticalBatchFit(critical, min_steps, min_samples, (
        f"critical batch size ≈ {critical:.0f}: below it doubling the batch halves the steps "
        f"to target, above it the steps stay near {min_steps:.0f}"))


def _fit(steps: np.ndarray, *columns: np.ndarray) -> list[float]:
    """Least squares of `steps` on `columns`, each row divided by its steps (relative error)."""
    design = np.column_stack(columns) / steps[:, None]
    solution, *_ = np.linalg.lstsq(design, np.ones_like(steps), rcond=None)
    return [float(x) for x in solution]
