"""`sweep report` with repeats, the gradient noise scale and calibration beyond ECE: the
analyses on known numbers, and a real study's page opened in Chromium.

The trainer's `grad_noise_scale`, `val_ece_tempered`, `val_temperature` per epoch and the
trial's `best_reliability` come from another change to the trainer; until a run carries them,
`stand_in_for_the_trainer` writes values of the same shape into the real runs' files (and
leaves any the trainer wrote alone), so that the page is tested on every field it reads."""
import json
import shutil

import optuna
import pytest
from browser_helpers import open_page
from cli_helpers import sweep, sweep_json
from test_report import PLOTS_ON_PAGE, history

from torchsweep.sweeps import attrs
from torchsweep.sweeps.readout.report.batch_size_plots import batch_size_plots, lr_tuning
from torchsweep.sweeps.readout.report.critical_batch import fit_critical_batch
from torchsweep.sweeps.readout.report.noise_scale_plot import verdict
from torchsweep.sweeps.readout.report.smoothing_plots import points, trade_off
from torchsweep.sweeps.readout.stats import interval
from torchsweep.sweeps.readout.trials import TrialRecord
from torchsweep.sweeps.storage import open_storage, storage_url

FAST = ("--set", "model=mlp", "--set", "width=8", "--set", "epochs=2", "--repeats", "2",
        "--wandb", "disabled", "--sampler", "grid")


# --- on known numbers ------------------------------------------------------------------------

def test_the_t_interval_of_three_seeds():
    spread = interval([0.8, 0.9, 1.0])
    assert spread.mean == pytest.approx(0.9) and spread.std == pytest.approx(0.1)
    # t(0.975, 2) = 4.303: the interval is 4.303 * 0.1 / sqrt(3) either side.
    assert spread.high - spread.mean == pytest.approx(4.303 * 0.1 / 3 ** 0.5, rel=1e-3)
    assert interval([0.5]).low is None and interval([0.5]).text() == "0.5"


def test_noise_scale_and_fit_agree_within_a_factor_of_two():
    fit = fit_critical_batch([16, 64, 256], [40 * (1 + 64 / b) for b in (16, 64, 256)])
    assert "they agree (a factor of 1.5 apart" in verdict(96.0, 3, fit)
    assert "they do not agree (a factor of 4.0 apart" in verdict(16.0, 3, fit)
    assert "no estimate at the target" in verdict(None, 0, fit)


def repeated(number, batch_size, steps, lr, noise):
    """A trial with two seeds, the second reaching the target 20% later."""
    trial = history(number, "completed", batch_size, steps, lr=lr)
    for row in trial.epochs:
        row["grad_noise_scale"] = noise * row["epoch"]
    trial.seed_epochs = [history(number, "completed", batch_size, steps * 1.2, lr=lr).epochs]
    return trial


def test_batch_size_curve_has_error_bars_and_says_whether_lr_was_tuned():
    sizes = [16, 64, 256]
    trials = [repeated(i, b, 40 * (1 + 64 / b), 0.1, 50) for i, b in enumerate(sizes)]
    steps, noise, _, _ = batch_size_plots(trials, "val_acc", "maximize", 0.9)
    best = next(t for t in steps.figure.data if t.name == "fewest steps")
    assert best.error_y.visible and all(bar > 0 for bar in best.error_y.array)
    one_seed = [history(i, "completed", b, 40 * (1 + 64 / b)) for i, b in enumerate(sizes)]
    (steps_of_one, *_) = batch_size_plots(one_seed, "val_acc", "maximize", 0.9)
    assert not next(t for t in steps_of_one.figure.data if t.name == "fewest steps").error_y.visible
    assert "one standard deviation over a trial's seeds" in steps.caption
    assert "not tuned per batch size" in steps.caption and "Shallue" in steps.caption
    assert noise.figure is not None and "estimate" in noise.caption and "Adam" in noise.caption
    assert "noise scale was ≈ 100 samples" in noise.caption   # epoch 2 reached it: 50 * 2
    tuned = trials + [repeated(5 + i, b, 500, 0.3, 50) for i, b in enumerate(sizes)]
    assert "was tuned per batch size (2 to 2 learning rates" in lr_tuning(tuned)


def smoothed(number, smoothing, accuracies, ece):
    rows = [[{"epoch": 1, "val_acc": acc, "val_ece": ece, "val_ece_tempered": ece / 2,
              "val_overconfidence": 0.0}] for acc in accuracies]
    return TrialRecord(number, "completed", {"label_smoothing": smoothing},
                       {"label_smoothing": smoothing}, rows[0], seed_epochs=rows[1:])


def test_the_trade_off_sentence_is_computed_from_the_trials():
    trials = [smoothed(0, 0.0, [0.90, 0.92], 0.08), smoothed(1, 0.1, [0.93, 0.95], 0.03),
              smoothed(2, 0.3, [0.80, 0.82], 0.20)]
    sentence = trade_off(points(trials, "val_acc", "maximize"), "val_acc", "maximize")
    assert sentence.startswith("Best smoothing ε = 0.1: val_acc 0.94 ± ")
    assert "(95% t interval over 2 seeds)" in sentence
    assert "against ε = 0: accuracy 0.91 → 0.94, ECE 0.08 → 0.03, ECE after temperature " \
           "scaling 0.04 → 0.015." in sentence
    one_seed = [TrialRecord(t.number, t.state, t.params, t.config, t.epochs) for t in trials]
    assert "one seed, so no interval" in trade_off(points(one_seed, "val_acc", "maximize"),
                                                   "val_acc", "maximize")


# --- a real study's page, in a browser ------------------------------------------------------

def stand_in_for_the_trainer(root, name, into):
    """The study copied from `root` into `into`, with noise scale, tempered ECE and
    reliability bins where its runs carry none yet (a finished trial's attributes cannot
    change, so the trials are added anew, numbers and all)."""
    shutil.copytree(root / name, into / name)
    for metrics in (into / name / "trials").rglob("metrics.jsonl"):
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        for row in rows:
            row.setdefault("grad_noise_scale", 40.0 * row["epoch"])
            row.setdefault("val_ece_tempered", row["val_ece"] / 2)
            row.setdefault("val_temperature", 1.5)
        metrics.write_text("".join(json.dumps(row) + "\n" for row in rows))
    source = optuna.load_study(study_name=name,
                               storage=open_storage(storage_url(root, None), create=False))
    copy = optuna.create_study(study_name=name, directions=source.directions,
                               storage=open_storage(storage_url(into, None), create=True))
    for key, value in source.user_attrs.items():
        copy.set_user_attr(key, value)
    for trial in source.get_trials():
        if attrs.best_reliability(trial) is None:
            trial.user_attrs[attrs.BEST_RELIABILITY] = {
                "confidence": [0.3, 0.6, 0.9, None], "accuracy": [0.4, 0.55, 0.8, None],
                "count": [10, 50, 300, 0]}
        copy.add_trial(trial)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeats-report")
    sweep_json("run", "batch", "--param", "batch_size=64,128,256", "--set", "lr=0.3", *FAST,
               "--root", root)
    sweep_json("run", "smooth", "--param", "label_smoothing=0,0.1,0.3", "--set", "lr=0.3",
               "--set", "batch_size=128", *FAST, "--root", root)
    pages = tmp_path_factory.mktemp("repeats-report-pages")
    for name in ("batch", "smooth"):
        stand_in_for_the_trainer(root, name, pages)
        made = sweep("report", name, "--root", pages, "--target", "0.5")
        assert made.exit_code == 0, made.stderr
    return pages


@pytest.mark.parametrize("name, new", [("batch", {"noise-scale", "batch-steps"}),
                                       ("smooth", {"smoothing", "reliability"})])
def test_the_new_plots_render_with_data_and_error_bars(studies, name, new):
    with open_page((studies / name / "report.html").as_uri()) as (browser, log):
        plots = {p["id"]: p for p in browser.evaluate(PLOTS_ON_PAGE)}
        bars = browser.evaluate("""() => Object.fromEntries(Array.from(
            document.querySelectorAll('.js-plotly-plot')).map(el => [el.id, (el.data || [])
            .some(t => t.error_y && t.error_y.visible && (t.error_y.array || []).length)]))""")
        text = browser.inner_text("body")
    assert new <= set(plots)
    for slug in new:
        assert plots[slug]["drawn"] and plots[slug]["values"] > 0, plots[slug]
    assert log.errors == []
    if name == "batch":
        assert bars["batch-steps"]
        assert "It is an estimate" in text and "biased" in text
        assert "agree" in text and "tuned per batch size" in text
    else:
        assert bars["smoothing"]
        assert "Best smoothing ε = " in text and "95% t interval over 2 seeds" in text
        assert "ECE after temperature scaling" in text
