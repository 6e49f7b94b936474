"""The little statistics repeats need: a mean, its spread, and a t confidence interval.

A configuration trained with a handful of seeds is a small sample, so its mean's interval is
Student's t interval, mean ± t(0.975, n-1)·s/√n for 95%, not the normal one (with 3 seeds t is
4.30, not 1.96).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float           # sample standard deviation (n - 1); 0 for one value
    low: float | None    # the 95% t interval of the mean; None for one value
    high: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "std": self.std, "low": self.low, "high": self.high,
                "n": self.n, "confidence": CONFIDENCE}

    def apart(self, other: Interval) -> bool:
        """Whether the two intervals do not overlap (never, when either has one value)."""
        if self.low is None or self.high is None or other.low is None or other.high is None:
            return False
        return self.low > other.high or self.high < other.low

    def text(self, digits: int = 4) -> str:
        """`0.912 ± 0.013` (95% half-width), or the mean alone for one value."""
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {(self.high - self.mean):.2g}"


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom."""
    from scipy import stats   # only a report or a confirmation with repeats pays for scipy

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def interval(values: Sequence[float]) -> Interval:
    """Mean, standard deviation and 95% t interval of `values` (at least one)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, 0.0, None, None, n)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n)
