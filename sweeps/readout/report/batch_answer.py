"""The batch-size answer with its uncertainty: the critical batch size, a bootstrap interval
around it, and whether the study can claim one at all.

One study is one draw: another sampler seed tries other learning rates at each batch size,
and each batch size's fewest steps is the best of the few that reached the target, so the
fitted B_crit moves with it. The bootstrap draws the study again from itself: each batch
size's trials that reached the target are drawn with replacement (the learning rates it
happened to find; a trial the pruner cut says nothing of the steps, and was cut because of the
others), and with repeats the seeds too (one draw of seed indices for every trial, as the seeds
are shared: common random numbers). Each resample gets each batch size's fewest steps and its
own fit; the 2.5% and 97.5% quantiles of its B_crit are the 95% interval. A resample in which
fewer than three batch sizes reach the target (seeds that all missed it) has no B_crit, and
counts against both ends. Without repeats a trial's seed noise is not in the interval: the
page says so.

The study claims a number only when it can: the interval must lie within the batch sizes
tried; each batch size needs two trials at the target, or seeds (one trial with one seed is
the same in every resample, so the interval would leave its noise out and look surer than the
study is: that put batchsize_study's seed 0 at 111 to 118, where seeds 2 and 3 found 96 and
88); and the fewest steps must not rise with batch size (S(B) only falls) by more than
one evaluation's steps in at least 95% of the resamples. Otherwise the answer says why, and
what to run instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from torchsweep.sweeps.readout.report.critical_batch import (
    CriticalBatchFit,
    critical_batch_sizes,
    fit_critical_batch,
)
from torchsweep.sweeps.readout.stats import CONFIDENCE

RESAMPLES = 2000
RISE_SURE = 0.95     # the share of resamples in which a rise must persist to be beyond noise
ENOUGH_REPEATS = 3   # seeds per configuration the advice asks for


@dataclass(frozen=True)
class Tried:
    """One trial at one batch size: each seed's steps to the target (None: it did not reach
    it), and the steps between two of its evaluations (how finely those were read)."""
    batch_size: int
    seeds: tuple[float | None, ...]
    resolution: float


@dataclass(frozen=True)
class Answer:
    fit: CriticalBatchFit
    low: float          # the 95% interval of B_crit: 0 and inf where it is open
    high: float
    reliable: bool      # a number the study can stand by
    verdict: str        # one sentence a reader can act on

    @property
    def critical_batch_size(self) -> float | None:
        """The number, only when the study can claim it."""
        return self.fit.critical_batch_size if self.reliable else None


def critical_batch_answer(tried: list[Tried], seed: int = 0) -> Answer | None:
    """The answer from every trial that trained; None when fewer than three batch sizes reached
    the target (nothing to fit)."""
    tried = [t for t in tried if any(steps is not None for steps in t.seeds)]
    if not tried:
        return None
    sizes = sorted({t.batch_size for t in tried})
    width = max(len(t.seeds) for t in tried)
    steps = {b: _steps_matrix([t for t in tried if t.batch_size == b], width) for b in sizes}
    best = {b: _fewest(matrix[None])[0] for b, matrix in steps.items()}
    reached = [b for b in sizes if math.isfinite(best[b])]
    fit = fit_critical_batch(reached, [best[b] for b in reached])
    if fit is None:
        return None
    resampled = _resample(steps, np.random.default_rng(seed))
    critical = critical_batch_sizes(np.asarray(sizes, dtype=float), resampled)
    tail = (1 - CONFIDENCE) / 2
    low = float(np.quantile(np.where(np.isnan(critical), 0.0, critical), tail,
                            method="inverted_cdf"))
    high = float(np.quantile(np.where(np.isnan(critical), np.inf, critical), 1 - tail,
                             method="inverted_cdf"))
    resolution = {b: max(t.resolution for t in tried if t.batch_size == b) for b in sizes}
    rise = _rise(reached, best, resampled, sizes, resolution)
    alone = [b for b in reached if width == 1 and np.count_nonzero(~np.isnan(steps[b])) == 1]
    reliable, verdict = _verdict(fit, low, high, rise, alone, width)
    return Answer(fit, low, high, reliable, verdict)


def _steps_matrix(tried: list[Tried], width: int) -> np.ndarray:
    """trials x seeds, NaN where a seed did not reach the target (or did not run)."""
    return np.array([[np.nan if s is None else s for s in t.seeds]
                     + [np.nan] * (width - len(t.seeds)) for t in tried], dtype=float)


def _fewest(steps: np.ndarray) -> np.ndarray:
    """resamples x trials x seeds -> each resample's fewest steps: the best trial's mean over
    its seeds that reached the target; NaN where none did."""
    reached = ~np.isnan(steps)
    counts = reached.sum(axis=2)
    means = np.where(counts > 0, np.where(reached, steps, 0).sum(axis=2) / np.maximum(counts, 1),
                     np.inf)
    fewest = means.min(axis=1)
    return np.where(np.isinf(fewest), np.nan, fewest)


def _resample(steps: dict[int, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """RESAMPLES x batch sizes: the fewest steps of each resample of the study."""
    width = max(matrix.shape[1] for matrix in steps.values())
    seeds = rng.integers(width, size=(RESAMPLES, width))
    columns = []
    for matrix in steps.values():
        trials = rng.integers(matrix.shape[0], size=(RESAMPLES, matrix.shape[0]))
        drawn = matrix[trials]                                  # resamples x trials x seeds
        index = np.broadcast_to(seeds[:, None, :], drawn.shape)
        columns.append(_fewest(np.take_along_axis(drawn, index, axis=2)))
    return np.column_stack(columns)


def _rise(reached: list[int], best: dict[int, float], resampled: np.ndarray, sizes: list[int],
          resolution: dict[int, float]) -> tuple[int, int] | None:
    """The steepest rise of the fewest steps with batch size that is beyond noise: larger than
    both points' evaluation spacing, and so in at least RISE_SURE of the resamples that kept
    both. None when the steps never rise beyond noise."""
    column = {b: i for i, b in enumerate(sizes)}
    rises = []
    for i, small in enumerate(reached):
        for large in reached[i + 1:]:
            margin = max(resolution[small], resolution[large])
            if best[large] - best[small] <= margin:
                continue
            a, b = resampled[:, column[small]], resampled[:, column[large]]
            both = ~np.isnan(a) & ~np.isnan(b)
            if both.any() and np.mean(b[both] - a[both] > margin) >= RISE_SURE:
                rises.append((best[large] / best[small], small, large))
    return max(rises)[1:] if rises else None


def _verdict(fit: CriticalBatchFit, low: float, high: float, rise: tuple[int, int] | None,
             alone: list[int], seeds: int) -> tuple[bool, str]:
    """`alone`: the batch sizes where one trial, with one seed, reached the target."""
    smallest, largest = int(min(fit.batch_sizes)), int(max(fit.batch_sizes))
    advice = (f"run with --repeats {ENOUGH_REPEATS}" if seeds < ENOUGH_REPEATS else
              "run more trials (more learning rates at each batch size) or more repeats")
    if rise is not None:
        small, large = rise
        measured = dict(zip(fit.batch_sizes, fit.measured))
        return False, (f"no reliable critical batch from this study: the fewest steps rise from "
                       f"batch {small} to {large} ({measured[small]:.0f} → {measured[large]:.0f}) "
                       f"beyond the noise its trials show, where S(B) only falls; {advice}")
    if alone:
        return False, (f"no reliable critical batch from this study: one trial reached the "
                       f"target at batch {', '.join(map(str, alone))}, with one seed, so there "
                       f"is nothing to judge the noise of its steps by; {advice}")
    if low > largest:
        return True, (f"doubling the batch still about halved the steps up to {largest}: the "
                      f"critical batch size is above {largest} (its whole 95% interval is)")
    if high < smallest:
        return True, (f"steps to target hardly fell with batch size: the critical batch size is "
                      f"at or below {smallest} (its whole 95% interval is)")
    shown = f"{_bound(low, smallest, largest)} to {_bound(high, smallest, largest)}"
    if smallest <= low and high <= largest:
        return True, (f"critical batch size ≈ {fit.critical_batch_size:.0f} (95% interval "
                      f"{shown}): below it doubling the batch halves the steps to target, above "
                      f"it the steps stay near {fit.min_steps:.0f}")
    return False, (f"no reliable critical batch from this study: its 95% interval runs from "
                   f"{shown}, beyond the batch sizes tried ({smallest} to {largest}); {advice}")


def _bound(value: float, smallest: int, largest: int) -> str:
    if value < smallest:
        return f"below {smallest}"
    if value > largest:
        return f"beyond {largest}"
    return f"{value:.0f}"
