"""The cost of calibration at each evaluation: the temperature fit (and the tempered ECE) beside
the raw metrics, on validation splits of the built-in datasets' sizes; the logits are random.

  python bench/calibration.py [--threads 1] [--repeats 5] [--json FILE]
"""
from __future__ import annotations

import argparse
import time

import torch
from common import median, print_table, write_json

from torchsweep.trainer import calibration
from torchsweep.trainer.calibration import CalibrationTally

# (name, validation samples, classes) at val_fraction 0.2.
SPLITS = (("digits", 360, 10), ("mnist", 12000, 10), ("cifar100", 10000, 100))
BATCH = 256   # logits added as an evaluation adds them, batch by batch


def seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    results, rows = {}, []
    for name, samples, classes in SPLITS:
        generator = torch.Generator().manual_seed(0)
        logits = 3 * torch.randn(samples, classes, generator=generator)
        targets = torch.randint(classes, (samples,), generator=generator)
        tally = CalibrationTally(cpu)

        def add():   # what the evaluation loop does per batch, for the whole split
            tally.__init__(cpu)
            for start in range(0, samples, BATCH):
                tally.add(logits[start:start + BATCH], targets[start:start + BATCH])

        added = seconds(add, args.repeats)
        add()
        fit = seconds(lambda: calibration._fit_temperature(torch.cat(tally._logits),
                                                           torch.cat(tally._targets)),
                      args.repeats)
        summary = seconds(tally.summary, args.repeats)
        results[name] = {"samples": samples, "classes": classes, "add_ms": 1e3 * added,
                         "temperature_fit_ms": 1e3 * fit, "summary_ms": 1e3 * summary}
        rows.append([name, f"{samples}x{classes}", 1e3 * added, 1e3 * fit, 1e3 * summary])
    print_table("calibration per evaluation on the CPU (ms, median)",
                ["split", "logits", "add (all batches)", "temperature fit", "summary (all)"],
                rows)
    write_json(args.json_path, results)


if __name__ == "__main__":
    main()
