"""The little statistics repeats need: a mean, its spread, and a t confidence interval.

A configuration trained with a handful of seeds is a small sample, so its mean's interval is
Student's t interval, mean ± t(0.975, n-1)·s/√n for 95%, not the normal one (with 3 seeds t is
4.30, not 1.96). scipy gives the quantile when it is installed (Optuna's WilcoxonPruner needs
it anyway); without it a table of the 95% quantiles serves, the normal one past 30 degrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95
# t(0.975, df) for df = 1..30 (any statistics table); past 30 the normal quantile is within 2%.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z95 = 1.960


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

    def text(self, digits: int = 4) -> str:
        """`0.912 ± 0.013` (95% half-width), or the mean alone for one value."""
        if self.low is None:
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {(self.high - self.mean):.2g}"


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom."""
    try:
        from scipy import stats
    except ImportError:
        return _T95[df - 1] if df <= len(_T95) else _Z95
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
