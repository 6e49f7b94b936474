"""The critical batch size: past it, doubling the batch no longer halves the steps to a target.

McCandlish et al. (2018, "An empirical model of large-batch training") found that the fewest
steps S needed to reach a target at batch size B follow

    S(B) = S_min * (1 + B_crit / B)

Well below B_crit doubling the batch halves the steps (perfect scaling); well above it the
steps stay near S_min however large the batch (no more gain). B_crit, where the two regimes
meet, is the critical batch size; E_min = S_min * B_crit is the fewest samples.

Steps to a target scatter by a factor (a lucky seed takes 0.7 times the steps, an unlucky
one 1.4 times), so the fit is least squares on log steps: each batch size counts by its ratio
to the curve, above or below alike. For a given B_crit the best log S_min is a mean, so only
B_crit is searched: on a log grid from far below the batch sizes tried to far above them, with
0 (no gain from any batch) and infinity (the steps still halve at the largest one) at its
ends, then refined by a parabola through the best point and its neighbours. The search runs on
many sets of steps at once, as the bootstrap (batch_answer) needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_BATCH_SIZES = 3  # a curve through two points tells nothing about the bend
GRID = 800           # B_crit values searched, log-spaced
REACH = 64.0         # how far beyond the batch sizes tried the grid goes, as a factor
CHUNK = 128          # sets fitted at once: sets x GRID x batch sizes floats in memory


@dataclass(frozen=True)
class CriticalBatchFit:
    batch_sizes: tuple[float, ...]
    measured: tuple[float, ...]      # the fewest steps fitted, one per batch size
    min_steps: float                 # S_min: steps at an unlimited batch (0: B_crit infinite)
    min_samples: float               # E_min: samples at a batch of one (0: B_crit is 0)

    @property
    def critical_batch_size(self) -> float:
        """E_min / S_min: infinite when S_min is 0, 0 when E_min is."""
        if self.min_steps <= 0:
            return math.inf
        return self.min_samples / self.min_steps

    def steps(self, batch_size: float) -> float:
        return self.min_steps + self.min_samples / batch_size

    def ratios(self) -> list[float]:
        """How well the fit holds: each batch size's measured steps over the fitted ones."""
        return [s / self.steps(b) for b, s in zip(self.batch_sizes, self.measured)]


def fit_critical_batch(batch_sizes: Sequence[float],
                       steps: Sequence[float]) -> CriticalBatchFit | None:
    """Fit S(B) to the fewest steps per batch size; None with fewer than three batch sizes."""
    if len(batch_sizes) < MIN_BATCH_SIZES:
        return None
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    (critical,) = critical_batch_sizes(b, s[None, :])
    log_steps = np.log(s)
    if 0 < critical < math.inf:
        critical = _polished(critical, b, log_steps)
    if critical == math.inf:
        return CriticalBatchFit(tuple(b), tuple(s), 0.0,
                                float(np.exp(np.mean(log_steps + np.log(b)))))
    min_steps = float(np.exp(np.mean(log_steps - np.log1p(critical / b))))
    return CriticalBatchFit(tuple(b), tuple(s), min_steps, min_steps * critical)


def _polished(critical: float, batch_sizes: np.ndarray, log_steps: np.ndarray) -> float:
    """The grid's B_crit refined to the precision a single fit can afford (scipy's bounded
    Brent search in log B_crit, within a grid step either side)."""
    from scipy.optimize import minimize_scalar

    present = np.ones((1, len(batch_sizes)), dtype=bool)
    step = math.log(REACH * REACH * batch_sizes.max() / batch_sizes.min()) / GRID

    def error(log_critical: float) -> float:
        shapes = _shapes(np.array([math.exp(log_critical)]), batch_sizes)
        return float(_squared_errors(shapes, log_steps[None, :], present)[0, 0])

    around = math.log(critical)
    found = minimize_scalar(error, bounds=(around - step, around + step), method="bounded",
                            options={"xatol": 1e-9})
    return math.exp(found.x) if found.fun <= error(around) else critical


def critical_batch_sizes(batch_sizes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """B_crit fitted to each row of `steps` (sets x batch sizes; NaN: that batch size did not
    reach the target in that set). NaN for a set with fewer than three batch sizes."""
    grid = np.concatenate([[0.0], np.geomspace(batch_sizes.min() / REACH,
                                               batch_sizes.max() * REACH, GRID), [np.inf]])
    present = ~np.isnan(steps)
    log_steps = np.where(present, np.log(np.where(present, steps, 1.0)), 0.0)
    shapes = _shapes(grid, batch_sizes)
    errors = np.concatenate([_squared_errors(shapes, log_steps[start:start + CHUNK],
                                             present[start:start + CHUNK])
                             for start in range(0, len(steps), CHUNK)])    # sets x grid
    best = errors.argmin(axis=1)
    critical = grid[best]
    inner = (best > 0) & (best < len(grid) - 1)
    if inner.any():
        # A parabola in log B_crit through the best grid point and its two neighbours.
        rows = np.nonzero(inner)[0]
        left, middle, right = (errors[rows, best[rows] + k] for k in (-1, 0, 1))
        log_grid = np.log(np.where(grid > 0, grid, 1.0))
        step = np.where((best[rows] > 1) & (best[rows] < len(grid) - 2),
                        log_grid[best[rows] + 1] - log_grid[best[rows]], 0.0)
        curvature = left - 2 * middle + right
        shift = np.where(curvature > 0, 0.5 * (left - right) / np.where(curvature > 0,
                                                                        curvature, 1.0), 0.0)
        critical[rows] = np.exp(log_grid[best[rows]] + np.clip(shift, -1, 1) * step)
    critical[present.sum(axis=1) < MIN_BATCH_SIZES] = np.nan
    return critical


def _shapes(grid: np.ndarray, batch_sizes: np.ndarray) -> np.ndarray:
    """grid x batch sizes: log(1 + c/B) less log(1 + c), which only shifts log S_min, so that
    c = infinity has a finite limit (-log B: perfect scaling) and c = 0 is flat."""
    finite = np.where(np.isinf(grid), 1.0, grid)[:, None]
    shape = np.log1p(finite / batch_sizes[None, :]) - np.log1p(finite)
    return np.where(np.isinf(grid)[:, None], -np.log(batch_sizes)[None, :], shape)


def _squared_errors(shapes: np.ndarray, log_steps: np.ndarray,
                    present: np.ndarray) -> np.ndarray:
    """sets x grid: the least squared error of log steps against each shape, log S_min
    chosen best for each (the mean residual over the batch sizes present)."""
    weight = present.astype(float)[:, None, :]                     # sets x 1 x sizes
    residual = log_steps[:, None, :] - shapes[None, :, :]          # sets x grid x sizes
    count = np.maximum(weight.sum(axis=2), 1.0)
    offset = (residual * weight).sum(axis=2) / count
    return (((residual - offset[:, :, None]) ** 2) * weight).sum(axis=2)
