"""W&B's `early_terminate: {type: hyperband, ...}`, read as W&B's engine reads it, with its bands.

W&B's `hyperband_stopping.py` stops runs at bands of iterations: from `min_iter`, the bands are
min_iter, min_iter * eta, min_iter * eta**2, ... (100 of them); from `max_iter` and `s`,
max_iter / eta, max_iter / eta**2, ... up to s of them, stopping before one falls below 1
(W&B prefers max_iter and s when both forms are given). Each band is truncated to a whole
iteration, and eta is any number above 1 (default 3), so a fractional eta such as 1.5 makes
bands 2, 3, 4, 6, 10, ... from min_iter 2.

Iterations are the trainer's epochs (our extension: a min_iter such as 0.25 puts the first cut a
quarter into the first epoch; bands below 1 keep their fraction) or a program's own steps.
The block is kept as `{type, min_iter, eta}` (min_iter: the first band), with `max_iter` and
`s` too when it gave them, so that `bands()` gives back W&B's bands exactly.
"""
from __future__ import annotations

from typing import Any, Mapping

from torchsweep.sweeps.errors import SpaceError
from torchsweep.sweeps.study.messages import check_keys, choice, count, mapping, number, show
from torchsweep.sweeps.study.rules import TRAINER, Rules

HYPERBAND_ETA = 3      # W&B's default
MIN_ITER_BANDS = 100   # W&B computes this many bands from min_iter
_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")


def parse_early_terminate(raw: Any, ignored: dict[str, Any], rules: Rules) -> dict[str, Any]:
    where = "early_terminate"
    raw = mapping(raw, where, "{type: hyperband, min_iter: 3}")
    check_keys(raw, _KEYS, where)
    choice(raw.get("type"), ("hyperband",), f"{where}.type")
    if "strict" in raw:
        ignored[f"{where}.strict"] = raw["strict"]
    eta = number(raw.get("eta", HYPERBAND_ETA), f"{where}.eta")
    if eta <= 1:   # W&B's schema: exclusiveMinimum 1
        raise SpaceError(f"{where}.eta: expected a number above 1 (each band keeps the best "
                         f"1/eta of the runs), got {show(eta)}")
    block: dict[str, Any] = {"type": "hyperband",
                             "eta": int(eta) if float(eta).is_integer() else eta}
    if "max_iter" in raw and "s" in raw:
        max_iter = number(raw["max_iter"], f"{where}.max_iter", integer=True)
        block.update(max_iter=count(max_iter, f"{where}.max_iter"),
                     s=count(raw["s"], f"{where}.s"))
        found = bands(block)
        if not found:
            raise SpaceError(f"{where}.max_iter: {max_iter} / eta {show(eta)} is below 1, so "
                             f"hyperband has no band; raise max_iter or lower eta")
        block["min_iter"] = found[0]
    elif "min_iter" in raw and rules is TRAINER:   # epochs, which may be a fraction
        block["min_iter"] = number(raw["min_iter"], f"{where}.min_iter")
        if block["min_iter"] <= 0:
            raise SpaceError(f"{where}.min_iter: expected a number of epochs > 0 (0.25 is a "
                             f"quarter of the first), got {show(block['min_iter'])}")
    elif "min_iter" in raw:
        block["min_iter"] = count(raw["min_iter"], f"{where}.min_iter")
    else:
        raise SpaceError(f"{where}: give min_iter, or max_iter and s; hyperband needs its bands")
    return block


def bands(block: Mapping[str, Any]) -> list[float]:
    """W&B's bands, in iterations, smallest first (see the module's docstring)."""
    eta = block["eta"]
    if "max_iter" in block and "s" in block:
        band, found = float(block["max_iter"]), list[float]()
        for _ in range(block["s"]):
            band /= eta
            if band < 1:
                break
            found.append(int(band))
        return sorted(found)
    band, found = block["min_iter"], []
    for _ in range(MIN_ITER_BANDS):
        found.append(int(band) if band >= 1 else band)
        band *= eta
    return found


def fractional_eta(block: Mapping[str, Any] | None) -> bool:
    """Whether eta is not a whole number, which Optuna's reduction factor must be."""
    return block is not None and not isinstance(block["eta"], int)

