"""What `sweep run` shows while it runs and when it ends: on a terminal a live line (trials done
of those queued, epochs, time elapsed and left), off one a line per finished trial as it
happens, and tables that never cut a searched value. Real `sweep` processes: under a
pseudo-terminal, and with stdout a pipe as a log file, CI or Slurm has it."""
import os
import pty
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

from cli_helpers import sweep, sweep_json
from rich.console import Console

from torchsweep.cli import output

GRID = ("--sampler", "grid", "--set", "epochs=2", "--set", "model=mlp", "--set", "width=8",
        "--wandb", "disabled")
SWEEP = [sys.executable, "-c", "from torchsweep.cli.app import app; app()"]
PROGRAMS = Path(__file__).parent / "programs"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def in_terminal(args, cwd: Path) -> str:
    """`sweep ARGS` with a pseudo-terminal (200 columns) as stdout and stderr: all it drew."""
    leader, follower = pty.openpty()
    os.set_blocking(leader, True)
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm"}
    process = subprocess.Popen([*SWEEP, *map(str, args)], stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(follower)
    drawn = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:          # EIO: the process closed its end
            break
        if not chunk:
            break
        drawn.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 0, b"".join(drawn).decode(errors="replace")
    return ANSI.sub("", b"".join(drawn).decode(errors="replace")).replace("\r", "\n")


def test_the_live_line_counts_trials_epochs_and_time_on_a_terminal(tmp_path):
    """Two batch sizes at a sane lr complete; the same at lr=1e9 diverge and count as pruned."""
    drawn = in_terminal(["run", "live", "--param", "lr=0.05,1e9", "--param", "batch_size=64,128",
                         *GRID, "--root", tmp_path], tmp_path)
    lines = re.findall(r"live: (\d+) of 4 trials, (\S+) elapsed(?:, about (\S+) left)? \| "
                       r"(\d+) completed, (\d+) pruned, (\d+) failed \| best val_acc (\S+).*? \| "
                       r"(\d+) epochs trained", drawn)
    assert lines, drawn
    seen = [(int(done), int(completed), int(pruned), int(failed))
            for done, _, _, completed, pruned, failed, _, _ in lines]
    assert seen[0] == (0, 0, 0, 0) and seen[-1] == (4, 2, 2, 0)
    # Every trial moved the count by one, in order, with nothing skipped or counted twice.
    assert [done for done, *_ in dict.fromkeys(seen)] == [0, 1, 2, 3, 4]
    assert all(done == sum(rest) for done, *rest in seen)
    # Time left once a trial has finished and while some are queued; none at the end.
    assert all(bool(left) == (0 < int(done) < 4) for done, _, left, *_ in lines)
    epochs = [int(line[-1]) for line in lines]
    assert epochs == sorted(epochs) and epochs[-1] == 4   # two completed trials of 2 epochs
    assert lines[-1][6] != "-"            # the best value so far is shown once one completes
    assert "live: top 2 of 4 trials" in drawn


def test_off_a_terminal_a_line_per_finished_trial_as_it_happens(tmp_path):
    """stdout a pipe: trial 0's line arrives while trial 1 is still waiting to start (its
    program waits for a file this test writes only once that line is read), so it was printed
    when trial 0 ended, not with everything at the end."""
    (tmp_path / "quickstart.py").write_text((PROGRAMS / "quickstart.py").read_text())
    (tmp_path / "study.yaml").write_text(
        "program: quickstart.py\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
        "parameters:\n  learning_rate: {values: [0.1, 0.2]}\n  epochs: {value: 3}\n")
    release = tmp_path / "release"
    env = {**os.environ, "EPOCH_SECONDS": "0.01", "WAIT_FOR": str(release)}
    process = subprocess.Popen([*SWEEP, "run", "study.yaml", "--root", "runs", "--pruner",
                                "none"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [
        lines.put(None)], daemon=True).start()

    def next_line() -> str | None:
        try:
            return lines.get(timeout=180)
        except queue.Empty:
            process.kill()
            raise AssertionError("no line from `sweep run` for 180 s") from None

    try:
        assert next_line() == "study: 2 trials queued; a line per finished trial follows\n"
        first = next_line()
        assert re.fullmatch(r"\[1 of 2\] trial 0 completed: val_loss \S+, 3 steps \| best "
                            r"val_loss \S+ \(trial 0\) \| 3 steps in all, \S+ elapsed, about "
                            r"\S+ left\n", first), first
        assert process.poll() is None and not release.exists()   # trial 1 has not started
        release.touch()
        second = next_line()
        assert second.startswith("[2 of 2] trial 1 completed: val_loss "), second
        assert "6 steps in all" in second and "left" not in second
        rest = []
        while (line := next_line()) is not None:
            rest.append(line)
    finally:
        process.kill() if process.poll() is None else None
    assert process.wait(timeout=60) == 0, process.stderr.read()
    assert any("study: top 2 of 2 trials" in line for line in rest)


SEARCHED = ("label_smoothing", "lr", "weight_decay")


def test_tables_never_cut_a_searched_value_in_80_columns(tmp_path, monkeypatch):
    """The run's top trials and `sweep show` at 80 columns (and 50): every trial's searched
    values whole, names wrapped or shortened instead; `pruned at` in epochs, as 0.5, not
    0.5000."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(output, "console", Console(width=80))
    result = sweep("run", "smooth", "--param", "label_smoothing=0.0..0.3", "--param",
                   "lr=0.05,1e9", "--param", "weight_decay=0.0..0.001", "--trials", "3", *GRID,
                   "--sampler", "random", "--root", tmp_path)
    assert result.exit_code == 0, result.stderr
    trials = sweep_json("show", "smooth", "--root", tmp_path)["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned    # lr=1e9 diverges: pruned within its first epoch
    for width in (80, 50):
        monkeypatch.setattr(output, "console", Console(width=width))
        table = sweep("show", "smooth", "--root", tmp_path).stdout
        assert all(len(line) <= width for line in table.splitlines() if "│" in line), table
        for trial in trials:
            for name in SEARCHED:
                assert output.number(trial["params"][name]) in table, (name, table)
        for trial in pruned if width == 80 else ():   # its row's `pruned at` cell
            row = next(line for line in table.splitlines()
                       if re.match(rf"│\s*{trial['number']}\s*│", line))
            assert row.split("│")[5].strip() == f"{trial['pruned_at']:g}", table
    # The run's top trials: the completed ones, with the values that tell them apart.
    top = [trial for trial in trials if trial["state"] == "completed"]
    assert top and all(output.number(trial["params"][name]) in result.stdout
                       for trial in top for name in ("label_smoothing", "weight_decay")), \
        result.stdout


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
