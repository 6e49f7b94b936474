"""The report says no more than its data: the critical batch size with a bootstrap interval,
or in plain words why there is none; learning-rate tuning counted past the pruner's first cut;
late collapses flagged; the noise-scale trend and the importances computed, not asserted.

Each study here is stored through Optuna's public API with known numbers (stored_trials.py),
and the page and the terminal line are made by the real `sweep report` (and `sweep show`)."""
import json
import re

import optuna
import pytest
from cli_helpers import sweep
from stored_trials import Stored, caption, plotted, store

from torchsweep.sweeps.storage import open_storage

SIZES = [16, 32, 64, 128, 256, 512]


def model(batch_size: int) -> float:
    """S(B) = S_min (1 + B_crit / B) with S_min = 64 and B_crit = 128: multiples of 16."""
    return 64 + 64 * 128 / batch_size


def report(root, name: str, *more: str) -> tuple[str, str]:
    """`sweep report`'s answer line, and the page it wrote."""
    made = sweep("report", name, "--root", root, "--target", "0.9", *more)
    assert made.exit_code == 0, made.stderr + made.stdout
    (answer,) = [line for line in made.stdout.splitlines() if "by batch size" in line]
    return answer, (root / name / "report.html").read_text()


# --- the critical batch size with its interval -----------------------------------------------

@pytest.fixture(scope="module")
def exact(tmp_path_factory):
    """Every batch size tried three learning rates: the best on S(B) exactly, one at twice
    its steps, and one cut at the first rung. The noise scale falls as the loss falls."""
    root = tmp_path_factory.mktemp("exact")
    trials = []
    for b in SIZES:
        falling = [1000.0 / (epoch + 1) for epoch in range(20)]
        # 80 evaluations of 16 steps: room for twice batch 16's 576 steps.
        trials += [Stored(b, 0.01, model(b), evaluations=80, noise=falling),
                   Stored(b, 0.02, 2 * model(b), evaluations=80, noise=falling),
                   Stored(b, 0.04, None, state="pruned", pruned_at=1.0, evaluations=2)]
    # One learning rate that never got there: the trials' values differ, for the importances.
    trials.append(Stored(16, 0.005, None, evaluations=80))
    store(root, "exact", trials)
    return root, *report(root, "exact")


def test_the_answer_is_a_number_with_its_interval_when_the_data_hold_it(exact):
    _, answer, page = exact
    assert answer.startswith("fewest steps to val_acc ≥ 0.9 by batch size: 16: 576, 32: 320, "
                             "64: 192, 128: 128, 256: 96, 512: 80; critical batch size ≈ 128 "
                             "(95% interval ")
    low, high = (float(x) for x in answer.split("(95% interval ")[1].split(")")[0].split(" to "))
    assert 16 <= low < 128 < high <= 512
    traces = {trace["name"]: trace for trace in plotted(page, "batch-steps")}
    assert traces["critical batch size ≈ 128"]["x"] == pytest.approx([128, 128])
    band = traces[f"95% interval {low:.0f} to {high:.0f}"]
    assert min(band["x"]) == pytest.approx(low, abs=0.5) and max(band["x"]) == pytest.approx(
        high, abs=0.5)
    # How well the fit holds, per batch size: here exactly.
    steps = caption(page, "Steps to reach")
    assert ("Measured over fitted steps, per batch size: 16: 1.00×, 32: 1.00×, 64: 1.00×, "
            "128: 1.00×, 256: 1.00×, 512: 1.00×.") in steps
    assert "2000 bootstrap resamples" in steps and "seed noise is not in it" in steps
    fewest = traces["fewest steps"]
    assert all("measured 1.00× it" in text for text in fewest["text"])


def test_the_fit_weighs_a_point_twice_the_curve_as_one_half_of_it(tmp_path):
    """Steps scatter by a factor, so the fit is least squares on log steps: batch 64 measured
    at twice the curve is missed by the same factor as at half of it. (The old fit, weighted by
    1/S, missed the high one by 1.89x and the low one by 1/0.66 = 1.51x.)"""
    misses = []
    for name, factor in (("high", 2.0), ("low", 0.5)):
        store(tmp_path, name, [Stored(b, 0.01, model(b) * (factor if b == 64 else 1.0))
                               for b in SIZES])
        _, page = report(tmp_path, name)
        ratios = re.search(r"Measured over fitted steps, per batch size: (.*?)\.( |$)",
                           caption(page, "Steps to reach")).group(1)
        misses.append(float(re.search(r"\b64: ([\d.]+)×", ratios).group(1)))
    high, low = misses
    assert high > 1.5 and low < 0.67 and high * low == pytest.approx(1.0, abs=0.03)


def bumpy(root, name: str, seeds: bool) -> None:
    """The fewest steps rise from 64 to 128 (192 to 240). With `seeds`, each trial has three
    seeds whose steps scatter widely around those means, one batch size's fast seed another's
    slow one; without, one seed at the mean."""
    trials = []
    for index, b in enumerate(SIZES):
        steps = 240 if b == 128 else model(b)
        spread = [steps * 0.7, steps * 1.3][::(-1) ** index] if seeds else []
        trials += [Stored(b, 0.01, steps, spacing=2, evaluations=600, seeds=spread,
                          noise=[100.0] * 20),
                   Stored(b, 0.04, None, state="pruned", pruned_at=1.0, evaluations=2)]
    store(root, name, trials)


def test_a_rise_beyond_the_noise_is_no_answer_but_what_to_run(tmp_path):
    bumpy(tmp_path, "bumpy", seeds=False)
    answer, page = report(tmp_path, "bumpy")
    assert answer.endswith("no reliable critical batch from this study: the fewest steps rise "
                           "from batch 64 to 128 (192 → 240) beyond the noise its trials show, "
                           "where S(B) only falls; run with --repeats 3")
    assert "critical batch size ≈" not in answer
    names = [trace["name"] for trace in plotted(page, "batch-steps")]
    assert not any(name.startswith(("critical batch size", "95% interval")) for name in names)
    noise = [trace["name"] for trace in plotted(page, "noise-scale")]
    assert not any(name.startswith("fitted B_crit") for name in noise)
    assert "the sweep claims no B_crit" in caption(page, "Gradient noise scale")


def test_the_same_rise_within_the_seeds_noise_is_an_answer(tmp_path):
    """Repeats: the seeds scatter by ±30%, so a 25% rise is noise, and the bootstrap over
    seeds says so; the interval then holds the truth."""
    bumpy(tmp_path, "seeded", seeds=True)
    answer, page = report(tmp_path, "seeded")
    assert "; critical batch size ≈ " in answer, answer
    low, high = (float(x) for x in answer.split("(95% interval ")[1].split(")")[0].split(" to "))
    assert low < 128 < high
    assert "and the seeds of each" in caption(page, "Steps to reach")


def test_an_interval_wider_than_the_batch_sizes_tried_is_no_answer(tmp_path):
    """Two learning rates per batch size, 16 to 128, the second far slower at 16, 32 and 128:
    resampling them bends the curve anywhere from below 16 to beyond 128."""
    trials = []
    for b, best, other in ((16, 300, 700), (32, 200, 400), (64, 150, 180), (128, 140, 300)):
        trials += [Stored(b, 0.01, best, spacing=4, evaluations=200),
                   Stored(b, 0.02, other, spacing=4, evaluations=200)]
    store(tmp_path, "wide", trials)
    answer, _ = report(tmp_path, "wide")
    assert answer.endswith("no reliable critical batch from this study: its 95% interval runs "
                           "from below 16 to beyond 128, beyond the batch sizes tried (16 to "
                           "128); run with --repeats 3")


def test_a_batch_size_with_one_trial_at_the_target_is_no_answer(tmp_path):
    """batchsize_study's seed 0: two learning rates reached the target at 16 and at 64, one at
    256. Every resample keeps 256's one value, and the interval (111 to 118 there) leaves its
    noise out."""
    trials = [Stored(b, lr, steps, spacing=25) for b, lr, steps in (
        (16, 0.01, 900), (16, 0.02, 900), (64, 0.01, 425), (64, 0.02, 325), (256, 0.01, 175))]
    trials.append(Stored(256, 0.02, None, state="pruned", pruned_at=1.0, evaluations=2))
    store(tmp_path, "alone", trials)
    answer, _ = report(tmp_path, "alone")
    assert answer.endswith("no reliable critical batch from this study: one trial reached the "
                           "target at batch 256, with one seed, so there is nothing to judge "
                           "the noise of its steps by; run with --repeats 3"), answer


# --- claims computed from the data ------------------------------------------------------------

def test_tuned_per_batch_size_counts_only_learning_rates_past_the_first_cut(tmp_path):
    trials = []
    for b in (16, 64, 256):
        trials += [Stored(b, 0.01, model(b)),
                   Stored(b, 0.02, None, state="pruned", pruned_at=1.0, evaluations=2)]
        # Batch 16's third learning rate was cut at the first rung too; the others' got past.
        trials.append(Stored(b, 0.03, None, state="pruned", evaluations=2,
                             pruned_at=1.0 if b == 16 else 3.0))
    store(tmp_path, "cut", trials)
    _, page = report(tmp_path, "cut")
    assert ("The learning rate was not tuned per batch size: at batch size 16 (lr 0.01 "
            "alone trained past epoch 1, of 3 tried; the others were stopped there).") in caption(
        page, "Steps to reach")


def test_the_noise_scale_trend_is_counted_from_its_epochs(exact, tmp_path):
    _, _, page = exact
    text = caption(page, "Gradient noise scale")
    assert ("As the training loss fell it grew in 0 of 12 trials with three epochs or more, "
            "fell in 12 and showed no clear trend in 0") in text
    assert "grows as the loss falls" not in text
    trials = [Stored(b, 0.01, model(b), noise=[10.0 * (e + 1) for e in range(20)])
              for b in (16, 64, 256)]
    store(tmp_path, "growing", trials)
    _, page = report(tmp_path, "growing")
    assert "it grew in 3 of 3 trials" in caption(page, "Gradient noise scale")


def test_importances_are_optunas_default_the_dashboards_and_named(exact):
    root, _, page = exact
    study = optuna.load_study(study_name="exact", storage=open_storage(
        str(root / "optuna.journal"), create=False))
    expected = optuna.importance.get_param_importances(study)   # PED-ANOVA in Optuna 5
    (bars,) = plotted(page, "importances")
    assert dict(zip(bars["y"], bars["x"])) == pytest.approx(expected)
    assert "PED-ANOVA" in caption(page, "Parameter importances")
    assert "fANOVA" not in page


JITTER = [0.0, 0.004, -0.003, 0.005, -0.004, 0.002, -0.005, 0.003]


def plateau(top: float, end: list[float] = ()) -> list[float]:
    """A curve that climbs to `top`, jitters there, and ends with `end`."""
    return [0.3, 0.6, 0.8] + [top + JITTER[k % len(JITTER)] for k in range(20)] + list(end)


@pytest.fixture(scope="module")
def collapsing(tmp_path_factory):
    root = tmp_path_factory.mktemp("collapse")
    curves = [plateau(0.9), plateau(0.91), plateau(0.92, [0.5, 0.1]),   # trial 2 collapses
              plateau(0.9, [0.88]), plateau(0.89)]                     # trial 3 only dips
    store(root, "late", [Stored(16 * 2 ** k, 0.01, None, curve=curve)
                         for k, curve in enumerate(curves)])
    return root


def test_show_flags_a_late_collapse_and_says_what_far_means(collapsing):
    shown = sweep("show", "late", "--root", collapsing)
    assert shown.exit_code == 0, shown.stderr
    (note,) = [line for line in shown.stdout.splitlines() if line.startswith("collapsed late")]
    assert note.endswith("times the study's median change between two consecutive "
                         "evaluations): #2 best 0.9250, last 0.1000")
    rows = {t["number"]: t for t in json.loads(sweep("show", "late", "--root", collapsing,
                                                     "--json").stdout)["trials"]}
    assert rows[2]["collapsed"]["best"] == pytest.approx(0.925)
    assert rows[2]["collapsed"]["last"] == pytest.approx(0.1)
    assert [n for n, row in rows.items() if row["collapsed"]] == [2]


def test_the_report_flags_a_late_collapse(collapsing):
    made = sweep("report", "late", "--root", collapsing)
    assert made.exit_code == 0, made.stderr
    page = (collapsing / "late" / "report.html").read_text()
    text = caption(page, "Learning curves")
    assert "trial 2 (completed): best 0.925, last 0.1" in text and "trial 3" not in text
    assert "trial 2, collapsed late" in [t["name"] for t in plotted(page, "curves")]
