"""What `sweep run` shows while it runs and when it ends: the live line and the top trials."""
import re

from cli_helpers import sweep
from rich.console import Console

from torchsweep.cli import output

GRID = ("--sampler", "grid", "--set", "epochs=2", "--set", "model=mlp", "--set", "width=8",
        "--wandb", "disabled")


def test_the_live_line_counts_trials_as_they_finish(tmp_path, monkeypatch):
    """Two batch sizes at a sane lr complete; the same at lr=1e9 diverge and count as pruned."""
    screen = Console(record=True, force_terminal=True, width=240)
    monkeypatch.setattr(output, "console", screen)
    result = sweep("run", "live", "--param", "lr=0.05,1e9", "--param", "batch_size=64,128",
                   *GRID, "--root", tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = re.findall(r"(\d+) done, (\d+) pruned, (\d+) failed \| best val_acc (\S+)",
                       screen.export_text())
    seen = [(int(done), int(pruned), int(failed)) for done, pruned, failed, _ in lines]
    assert seen[0] == (0, 0, 0)
    assert seen[-1] == (2, 2, 0)
    # Every trial moved the count by one, in order, with nothing skipped or counted twice.
    distinct = list(dict.fromkeys(seen))
    assert [sum(counts) for counts in distinct] == [0, 1, 2, 3, 4]
    assert lines[-1][3] != "-"            # the best value so far is shown once one completes


def test_top_trials_follow_the_study_goal_not_the_metric_habit(tmp_path, monkeypatch):
    """A study that maximizes val_loss (an odd but valid goal) lists its highest loss first."""
    screen = Console(record=True, width=240)
    monkeypatch.setattr(output, "console", screen)
    study = tmp_path / "odd.yaml"
    study.write_text("method: grid\nmetric: {name: val_loss, goal: maximize}\n"
                     "parameters:\n  lr: {values: [0.001, 0.3]}\n  epochs: {value: 1}\n"
                     "  model: {value: mlp}\n  width: {value: 8}\n")
    result = sweep("run", study, "--wandb", "disabled", "--root", tmp_path)
    assert result.exit_code == 0, result.stderr
    table = screen.export_text()
    rows = re.findall(r"│\s*(\d+) │ completed\s*│\s*(\S+) │", table)
    values = [float(value) for _, value in rows]
    assert len(values) == 2 and values == sorted(values, reverse=True), table
