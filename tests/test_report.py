"""`sweep report`: the analyses on known numbers, and the page itself opened in Chromium."""
import json
import math
import re

import pytest
from browser_helpers import open_page
from cli_helpers import one_line_error, sweep, sweep_json
from needs import needs_chromium

from torchsweep.sweeps.readout.report.batch_size_plots import batch_size_plots
from torchsweep.sweeps.readout.report.critical_batch import fit_critical_batch
from torchsweep.sweeps.readout.report.figures import FADED
from torchsweep.sweeps.readout.report.study_plots import learning_curves
from torchsweep.sweeps.readout.report.to_target import near_best_target, to_target
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.trainer.goal import Goal

FAST = ("--set", "epochs=2", "--wandb", "disabled", "--sampler", "grid")
BATCH_PLOTS = {"batch-steps", "noise-scale", "batch-time", "batch-lr"}
EVERY_STUDY = {"curves", "history", "importances", "parallel", "slices"}


# --- steps and time to a target -------------------------------------------------------------

HISTORY = [{"epoch": 1, "val_acc": 0.6, "steps": 10, "samples_seen": 320, "wall_seconds": 1.5},
           {"epoch": 2, "val_acc": 0.9, "steps": 20, "samples_seen": 640, "wall_seconds": 3.0},
           {"epoch": 3, "val_acc": 0.8, "steps": 30, "samples_seen": 960, "wall_seconds": 4.5}]


def test_to_target_is_the_first_epoch_that_reached_it():
    assert to_target(HISTORY, "val_acc", 0.85, Goal.MAXIMIZE) == {
        "epoch": 2, "steps": 20, "samples_seen": 640, "wall_seconds": 3.0}
    assert to_target(HISTORY, "val_acc", 0.6, Goal.MAXIMIZE)["epoch"] == 1
    assert to_target(HISTORY, "val_acc", 0.95, Goal.MAXIMIZE) is None
    assert to_target(HISTORY, "val_acc", 0.7, Goal.MINIMIZE)["epoch"] == 1
    assert to_target([], "val_acc", 0.5, Goal.MAXIMIZE) is None


def test_a_study_without_a_target_aims_just_short_of_its_best():
    assert near_best_target(0.99, Goal.MAXIMIZE) == pytest.approx(0.9405)
    assert near_best_target(0.2, Goal.MINIMIZE) == pytest.approx(0.21)


# --- the critical batch size ----------------------------------------------------------------

def steps_model(min_steps, critical, sizes):
    return [min_steps * (1 + critical / b) for b in sizes]


def test_fit_recovers_the_critical_batch_size_of_exact_data():
    sizes = [16, 32, 64, 128, 256, 512]
    fit = fit_critical_batch(sizes, steps_model(40, 100, sizes))
    assert fit.critical_batch_size == pytest.approx(100)
    assert fit.min_steps == pytest.approx(40) and fit.min_samples == pytest.approx(4000)
    assert fit.steps(100) == pytest.approx(80)
    assert fit.ratios() == pytest.approx([1.0] * len(sizes))


def test_fit_puts_a_bend_outside_the_range_at_its_limits():
    sizes = [16, 32, 64, 128]
    halving = fit_critical_batch(sizes, [1600 / b for b in sizes])
    assert halving.critical_batch_size == math.inf and halving.steps(32) == pytest.approx(50)
    flat = fit_critical_batch(sizes, [50, 51, 50, 49])
    assert flat.critical_batch_size < 1 and flat.steps(32) == pytest.approx(50, rel=0.02)
    assert fit_critical_batch([16, 32], [100, 50]) is None


# --- the plots, from known histories ---------------------------------------------------------

def history(number, state, batch_size, steps_to_target, epochs=4, lr=0.1):
    """A trial whose val_acc crosses 0.9 after `steps_to_target` steps."""
    per_epoch = steps_to_target / 2
    rows = [{"epoch": e, "val_acc": 0.5 if e < 2 else 0.95, "steps": per_epoch * e,
             "samples_seen": per_epoch * e * batch_size, "wall_seconds": 0.1 * per_epoch * e}
            for e in range(1, epochs + 1)]
    return TrialRecord(number, state, {"batch_size": batch_size, "lr": lr},
                        {"batch_size": batch_size, "lr": lr}, rows)


def test_batch_size_plots_mark_the_critical_batch_size():
    sizes = [16, 32, 64, 128, 256]
    histories = [history(i, "completed", b, s)
                 for i, (b, s) in enumerate(zip(sizes, steps_model(40, 64, sizes)))]
    # A second learning rate at each batch size, slower: the interval draws on both. A slower
    # trial must not count: each batch size is judged by its best.
    histories += [history(20 + i, "completed", b, 1.5 * s)
                  for i, (b, s) in enumerate(zip(sizes, steps_model(40, 64, sizes)))]
    histories.append(history(9, "pruned", 64, 500))
    histories.append(history(10, "pruned", 1024, 10, epochs=1))  # never reached it
    steps, noise, seconds, lrs = batch_size_plots(histories, "val_acc", Goal.MAXIMIZE, 0.9)
    assert [p.slug for p in (steps, noise, seconds, lrs)] == [
        "batch-steps", "noise-scale", "batch-time", "batch-lr"]
    traces = {trace.name: trace for trace in steps.figure.data}
    assert list(traces["fewest steps"].x) == sizes
    assert list(traces["fewest steps"].y) == pytest.approx(steps_model(40, 64, sizes))
    assert list(traces["critical batch size ≈ 64"].x) == pytest.approx([64, 64])
    assert "critical batch size ≈ 64" in steps.caption and "1024" in steps.caption
    assert "McCandlish" in steps.caption
    assert re.fullmatch("fewest steps to val_acc ≥ 0.9 by batch size: "
                        + ", ".join(f"{b}: {s:.0f}" for b, s in
                                    zip(sizes, steps_model(40, 64, sizes)))
                        + r" \(none reached it at 1024\); critical batch size ≈ 64 \(95% "
                        r"interval \d+ to \d+\): below it doubling the batch halves the steps to "
                        "target, above it the steps stay near 40", steps.finding), steps.finding
    assert steps.figure.layout.xaxis.type == "log" and steps.figure.layout.yaxis.type == "log"
    assert list(lrs.figure.data[0].y) == pytest.approx([0.1] * 5)


def test_steps_that_halve_up_to_the_largest_batch_still_draw():
    """The bend above every batch size tried: S_min is 0, which a log axis cannot start at."""
    sizes = [16, 32, 128]
    histories = [history(i, "completed", b, 16000 / b * slower)
                 for i, (b, slower) in enumerate((b, k) for b in sizes for k in (1, 1.1))]
    steps, *_ = batch_size_plots(histories, "val_acc", Goal.MAXIMIZE, 0.9)
    assert "the critical batch size is above 128" in steps.finding
    assert all(math.isfinite(v) for v in steps.figure.layout.yaxis.range)


def test_steps_to_target_are_read_within_epochs_where_the_trial_evaluated_there():
    """A batch of 16 takes hundreds of steps an epoch: its evaluations.jsonl rows say when
    within the epoch it reached the target, which its epoch rows would put up to an epoch late."""
    trials = [history(i, "completed", b, 100) for i, b in enumerate([16, 32, 64])]
    trials[0].evaluations = [{**row, "epoch": row["epoch"] - 0.5, "steps": row["steps"] - 25}
                             for row in trials[0].epochs]
    steps, *_ = batch_size_plots(trials, "val_acc", Goal.MAXIMIZE, 0.9)
    assert list(next(t for t in steps.figure.data if t.name == "fewest steps").y) == [75, 100, 100]


def test_no_trial_at_the_target_is_a_note_not_an_empty_plot():
    (note,) = batch_size_plots([history(0, "completed", 32, 100)], "val_acc", Goal.MAXIMIZE, 0.99)
    assert note.figure is None and "No trial reached val_acc ≥ 0.99" in note.caption


def test_learning_curves_fade_the_pruned_trials():
    plot = learning_curves([history(0, "completed", 32, 100), history(1, "pruned", 64, 50),
                            history(2, "pruned", 64, 40)], "val_acc", Goal.MAXIMIZE, 0.9, False)
    completed, *pruned = plot.figure.data
    assert completed.opacity == 1 and completed.name == "trial 0"
    assert all(t.opacity == FADED and t.legendgroup == "pruned" for t in pruned)
    assert [t.showlegend for t in pruned] == [True, False]  # one legend entry for all of them


def test_learning_curves_are_drawn_on_samples_seen():
    # Every evaluation, within epochs too, at its step in samples (what the pruner compared);
    # a trial without evaluations (written by an older version) at its epochs' samples seen.
    evaluated = history(0, "completed", 32, 100)
    evaluated.evaluations = [{"epoch": 0.5, "samples": 500, "val_acc": 0.3},
                             {"epoch": 1.0, "samples": 1000, "val_acc": 0.5}]
    older = history(1, "completed", 64, 50)
    plot = learning_curves([evaluated, older], "val_acc", Goal.MAXIMIZE, None, False)
    assert list(plot.figure.data[0].x) == [500, 1000]
    assert list(plot.figure.data[0].y) == [0.3, 0.5]
    assert list(plot.figure.data[1].x) == [m["samples_seen"] for m in older.epochs]
    assert plot.figure.layout.xaxis.title.text == "samples seen"
    # a user's program reports its own steps
    program = learning_curves([older], "val_acc", Goal.MAXIMIZE, None, True)
    assert program.figure.layout.xaxis.title.text == "step"


# --- the page, in a browser ------------------------------------------------------------------

PLOTS_ON_PAGE = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    id: el.id,
    traces: (el.data || []).length,
    values: (el.data || []).reduce((n, t) =>
        n + ((t.y || t.x || t.dimensions || []).length || 0), 0),
    drawn: el.querySelectorAll('.main-svg').length > 0 && !!el._fullLayout,
}))"""


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Two tiny studies, one per question, two seeds per configuration, each with its report
    written."""
    root = tmp_path_factory.mktemp("report")
    for name, space in (("batch", "batch_size=16,64,256"), ("smooth", "label_smoothing=0,0.1,0.3")):
        result = sweep("run", name, "--param", space, "--param", "lr=0.1", "--trials", "3",
                       "--repeats", "2", *FAST, "--root", root, "--json")
        assert result.exit_code == 0, result.stderr
    made = sweep("report", "batch", "--root", root, "--target", "0.5")
    assert made.exit_code == 0, made.stderr
    assert sweep("report", "smooth", "--root", root, "-o", root / "smooth.html").exit_code == 0
    return root


ERROR_BARS = """() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(el => [el.id, (el.data || []).some(t => t.error_y && t.error_y.visible
                                               && (t.error_y.array || []).length)]))"""
PAGES = {"batch": "batch/report.html", "smooth": "smooth.html"}


@pytest.fixture(scope="module")
def opened(studies, tmp_path_factory):
    """Each study's page, opened once in Chromium: its plots, error bars, text, the errors and
    requests it logged, and a full-page screenshot."""
    shots, seen = tmp_path_factory.mktemp("screenshots"), {}
    for name, page in PAGES.items():
        with open_page((studies / page).as_uri()) as (browser, log):
            shot = shots / f"report-{name}.png"
            seen[name] = {"plots": {p["id"]: p for p in browser.evaluate(PLOTS_ON_PAGE)},
                          "bars": browser.evaluate(ERROR_BARS),
                          "text": browser.inner_text("body"), "log": log, "screenshot": shot}
            browser.screenshot(path=str(shot), full_page=True)
    return seen


@pytest.mark.parametrize("name, expected", [
    ("batch", BATCH_PLOTS | EVERY_STUDY), ("smooth", {"smoothing", "reliability"} | EVERY_STUDY)])
def test_every_plot_renders_with_data_and_no_script_error(opened, name, expected):
    page = opened[name]
    assert set(page["plots"]) == expected
    for plot in page["plots"].values():
        assert plot["drawn"] and plot["traces"] > 0 and plot["values"] > 0, plot
    assert page["log"].errors == []
    # Offline: the page asked for nothing but itself.
    assert all(url.startswith("file://") for url in page["log"].requests), page["log"].requests
    assert name in page["text"] and page["screenshot"].stat().st_size > 50_000


def test_report_prints_the_batch_size_answer(studies):
    made = sweep("report", "batch", "--root", studies, "--target", "0.5", "-o",
                 studies / "again.html")
    assert made.exit_code == 0, made.stderr
    (answer,) = [line for line in made.stdout.splitlines() if "by batch size" in line]
    assert re.match(r"fewest steps to val_acc ≥ 0.5 by batch size: \d+: \d+", answer), answer


# --- the new plots, on a real study's page ---------------------------------------------------

@pytest.mark.parametrize("name, new", [("batch", {"noise-scale", "batch-steps"}),
                                       ("smooth", {"smoothing", "reliability"})])
def test_the_new_plots_render_with_data_and_error_bars(opened, name, new):
    plots, bars, text = opened[name]["plots"], opened[name]["bars"], opened[name]["text"]
    assert new <= set(plots)
    for slug in new:
        assert plots[slug]["drawn"] and plots[slug]["values"] > 0, plots[slug]
    if name == "batch":
        assert bars["batch-steps"]
        assert "It is an estimate" in text and "biased" in text
        assert "At the target the noise scale was" in text and "tuned per batch size" in text
    else:
        assert bars["smoothing"]
        assert "Best smoothing ε = " in text and "95% t interval over 2 seeds" in text
        assert "ECE after temperature scaling" in text


def test_the_batch_size_page_states_its_target_and_method(studies):
    page = (studies / "batch" / "report.html").read_text()
    assert "val_acc ≥ 0.5 (--target)" in page
    assert "S(B) = S_min·(1 + B_crit/B)" in page
    assert "<script src=" not in page and "<link" not in page  # plotly.js is inline


def test_png_writes_each_figure_as_an_image(studies, tmp_path):
    needs_chromium()
    made = sweep("report", "batch", "--root", studies, "--target", "0.5", "-o",
                 tmp_path / "batch.html", "--png", tmp_path / "pngs")
    assert made.exit_code == 0, made.stderr
    images = {p.name.removesuffix(".png") for p in (tmp_path / "pngs").iterdir()}
    assert images == BATCH_PLOTS | EVERY_STUDY
    for image in (tmp_path / "pngs").iterdir():
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000


def test_png_without_chromium_is_exit_code_10_and_the_page_is_written(studies, tmp_path):
    no_browser = tmp_path / "bin"        # a PATH on which no Chromium can be found
    no_browser.mkdir()
    page = tmp_path / "batch.html"
    result = sweep("report", "batch", "--root", studies, "-o", page, "--png", tmp_path / "pngs",
                   env={"PATH": str(no_browser)})
    one_line_error(result, 10, "error: --png needs Chromium to draw the images")
    assert page.stat().st_size > 100_000                     # the HTML report was written
    assert not (tmp_path / "pngs").exists()


def test_without_a_target_the_report_aims_near_the_best(studies):
    assert "5% short of the best val_acc" in (studies / "smooth.html").read_text()


TARGETED = """\
method: random
trials: 8
pruner: none
metric: {name: val_acc, goal: maximize, target: 0.3}
parameters:
  lr: {distribution: log_uniform_values, min: 0.001, max: 10}
  model: {value: mlp}
  width: {value: 8}
  batch_size: {value: 512}
  epochs: {value: 1}
"""


def test_metric_target_stops_the_study_and_is_the_reports_default_target(tmp_path):
    study = tmp_path / "targeted.yaml"
    study.write_text(TARGETED)
    report = sweep_json("run", study, "--root", tmp_path, "--wandb", "disabled")
    ran = sorted((t for t in report["trials"] if t["state"] != "waiting"),
                 key=lambda t: t["number"])
    # It stopped at the first trial that reached 0.3; the rest of the queue waits, unrun.
    assert report["ran"] == len(ran) < 8
    assert ran[-1]["value"] >= 0.3 and all(t["value"] < 0.3 for t in ran[:-1])
    assert [t["state"] for t in report["trials"]].count("waiting") == 8 - len(ran)
    written = sweep("report", "targeted", "--root", tmp_path)
    assert written.exit_code == 0, written.stderr
    page = (tmp_path / "targeted" / "report.html").read_text()
    assert "val_acc ≥ 0.3 (the study&#x27;s metric.target)" in page


def test_best_points_to_the_report(studies):
    result = sweep("best", "batch", "--root", studies)
    assert result.exit_code == 0 and "sweep report batch" in result.stdout


def test_calibration_reaches_the_trial_metrics_file(studies):
    lines = (studies / "smooth" / "trials" / "00000" / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert {"val_ece", "val_nll", "val_overconfidence", "steps", "samples_seen",
            "wall_seconds"} <= set(last)
    assert all(math.isfinite(last[k]) for k in last)


@pytest.mark.parametrize("args, code, message", [
    (("report", "nope"), 3, "no study named 'nope'"),
    (("report", "batch", "--target", "inf"), 2, "not a finite number"),
])
def test_bad_input_is_one_line_and_an_exit_code(studies, args, code, message):
    one_line_error(sweep(*args, "--root", studies), code, message)
