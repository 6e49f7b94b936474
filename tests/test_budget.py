"""`sweep run --budget`: a compute budget in epochs or device-hours, through the CLI with real
training and storage. Each trial is one epoch of a tiny mlp."""
import pytest
from cli_helpers import one_line_error, sweep, sweep_json
from optuna.trial import TrialState
from worker_helpers import QUIET, TINY_SPACE, in_state, trials


def test_run_help_names_the_budget():
    result = sweep("run", "--help")
    assert result.exit_code == 0
    assert "--budget" in result.stdout and "200e|2h" in result.stdout


@pytest.mark.parametrize("value", ["0e", "-3e", "200", "2d", "e", "1.5.2h", "two hours"])
def test_an_unreadable_budget_is_a_usage_error(tmp_path, value):
    result = sweep("run", "x", *TINY_SPACE, "--budget", value, "--root", tmp_path / "root",
                   *QUIET)
    line = one_line_error(result, 2)
    assert line == (f"error: Invalid value for '--budget': {value!r} is not a budget; give "
                    f"epochs as e.g. 200e or device-hours as e.g. 2h; see `sweep run --help`")
    assert not (tmp_path / "root").exists()


def test_a_budget_in_epochs_needs_fixed_epochs(tmp_path):
    result = sweep("run", "x", "--param", "lr=log:0.01..0.2", "--param", "epochs=1,2",
                   "--budget", "5e", "--root", tmp_path / "root", *QUIET)
    assert one_line_error(result, 2) == ("error: --budget 5e: a budget in epochs needs every "
                                         "trial's epochs fixed; give device-hours instead "
                                         "(e.g. 2h)")
    assert not (tmp_path / "root").exists()


def test_an_epochs_budget_stops_the_queue_and_counts_each_run_on_its_own(tmp_path):
    # --trials 5 with room for 2: two run, three stay queued for the next run.
    first = sweep_json("run", "b", *TINY_SPACE, "--trials", "5", "--budget", "2e", *QUIET,
                       "--root", tmp_path)
    assert first["ran"] == 2
    assert first["budget"] == {"limit": 2.0, "unit": "epochs", "spent": 2.0}
    assert len(in_state(trials("b", tmp_path), TrialState.WAITING)) == 3
    # Without --trials the run queues trials while the budget lasts: the three left, then one.
    second = sweep("run", "b", *TINY_SPACE, "--budget", "4e", *QUIET, "--root", tmp_path)
    assert second.exit_code == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "budget: spent 4 of 4 epochs"
    found = trials("b", tmp_path)
    assert len(in_state(found, TrialState.COMPLETE)) == 6 and len(found) == 6


def test_an_hours_budget_runs_no_trial_that_its_trials_say_would_pass_it(tmp_path):
    # 0.036 seconds: the first trial starts (nothing is known of a trial's time before it),
    # and takes longer than what is left.
    report = sweep_json("run", "h", *TINY_SPACE, "--budget", "0.00001h", *QUIET,
                        "--root", tmp_path)
    assert report["ran"] == 1
    assert report["budget"]["unit"] == "device-hours" and report["budget"]["spent"] > 0.00001
