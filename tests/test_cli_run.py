"""`sweep run` end to end: real training, real Optuna journal storage, real checkpoints."""
import json
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import one_line_error, sweep, sweep_json, sweep_process
from needs import needs

from torchsweep.sweeps.study.catalog import bundled_names

FAST = ("--set", "epochs=2", "--wandb", "disabled")


def run_json(root: Path, *args: str) -> dict:
    return sweep_json("run", *args, "--root", root, *FAST)


def test_run_help_documents_the_param_grammar():
    result = sweep("run", "--help")
    assert result.exit_code == 0
    for text in ("--param", "log:LOW..HIGH", "--trials", "--sampler", "--pruner",
                 "--keep-top-k", "--storage", "--wandb"):
        assert text in result.stdout


@pytest.mark.parametrize("study", bundled_names())
def test_every_bundled_study_runs(tmp_path, study):
    """Each bundled file's space resolves, trains and is recorded. Two trials leave TPE in its
    random start-up and reach no hyperband cut: test_samplers.py runs a bundled study's TPE
    past its start-up and a bundled study's hyperband to its first cut. Small: two epochs of a
    width-8 cnn on 700 sequences (a training split of 560 holds the largest batch, 512),
    generated under tmp_path."""
    small = ("--set", "epochs=2", "--set", "width=8", "--set", "num_samples=700",
             "--set", f"data_dir={tmp_path / 'data'}")
    report = sweep_json("run", study, "--trials", "2", *small, "--wandb", "disabled",
                        "--root", tmp_path)
    assert report["ran"] == 2
    assert all(t["state"] in ("completed", "pruned") for t in report["trials"])
    assert report["best"] is not None
    assert (tmp_path / study / "study.yaml").is_file()
    assert (tmp_path / "optuna.journal").is_file()
    assert list((tmp_path / "data").rglob("*.npz"))    # MNIST-1D made there, not in ./data


def test_study_from_the_command_line_alone(tmp_path):
    report = run_json(tmp_path, "my_study", "--param", "batch_size=32,64",
                      "--param", "lr=log:0.01..0.1", "--param", "label_smoothing=0..0.2",
                      "--trials", "3", "--sampler", "random")
    assert report["ran"] == 3
    for trial in report["trials"]:
        params = trial["params"]
        assert params["batch_size"] in (32, 64)
        assert 0.01 <= params["lr"] <= 0.1
        assert 0 <= params["label_smoothing"] <= 0.2
        assert params["epochs"] == 2


def test_grid_runs_exactly_its_grid_then_stops(tmp_path):
    report = run_json(tmp_path, "grid_study", "--param", "batch_size=32,64,128",
                      "--param", "optimizer=sgd,adam", "--sampler", "grid", "--trials", "50")
    combos = {(t["params"]["batch_size"], t["params"]["optimizer"]) for t in report["trials"]}
    assert report["ran"] == 6 and len(combos) == 6
    again = run_json(tmp_path, "grid_study", "--param", "batch_size=32,64,128",
                     "--param", "optimizer=sgd,adam", "--sampler", "grid")
    assert again["ran"] == 0


def _epochs_trained(report: dict) -> float:
    """Epochs' worth of samples trained, the part of an epoch a pruned trial began included."""
    return sum(t["epochs_trained"] or 0 for t in report["trials"])


def test_pruning_trains_fewer_epochs_than_no_pruning(tmp_path):
    space = ("--param", "lr=log:0.0005..0.3", "--param", "batch_size=64,512",
             "--trials", "10", "--sampler", "random", "--set", "epochs=6", "--set", "model=mlp",
             "--set", "width=8", "--set", "noise_scale_every=0", "--wandb", "disabled")
    pruned = sweep_json("run", "with_pruning", *space, "--pruner", "median", "--root", tmp_path)
    unpruned = sweep_json("run", "without", *space, "--pruner", "none", "--root", tmp_path)
    assert any(t["state"] == "pruned" for t in pruned["trials"])
    assert _epochs_trained(pruned) < _epochs_trained(unpruned) == 60


def test_top_k_retention_keeps_exactly_k_checkpoints(tmp_path):
    report = run_json(tmp_path, "keep_study", "--param", "lr=log:0.001..0.2", "--trials", "5",
                      "--keep-top-k", "2", "--pruner", "none", "--sampler", "random")
    kept = report["kept_checkpoints"]
    assert len(kept) == 2
    on_disk = sorted(p.relative_to(tmp_path).as_posix()
                     for p in (tmp_path / "keep_study").rglob("*.pt"))
    assert on_disk == sorted(kept.values())
    values = sorted((t["value"] for t in report["trials"]), reverse=True)
    kept_values = sorted((t["value"] for t in report["trials"] if str(t["number"]) in kept),
                         reverse=True)
    assert kept_values == values[:2]


def test_continuing_a_study_adds_trials_up_to_run_cap(tmp_path):
    study = tmp_path / "capped.yaml"
    study.write_text("method: random\nrun_cap: 3\nmetric: {name: val_acc, goal: maximize}\n"
                     "parameters:\n  lr: {min: 0.01, max: 0.1}\n  epochs: {value: 1}\n")
    first = run_json(tmp_path, str(study), "--trials", "2")
    second = run_json(tmp_path, str(study), "--trials", "2")
    assert (first["ran"], second["ran"], len(second["trials"])) == (2, 1, 3)
    assert sorted(t["number"] for t in second["trials"]) == [0, 1, 2]


def test_changed_space_is_refused_unless_allowed(tmp_path):
    run_json(tmp_path, "drift", "--param", "lr=0.01..0.1", "--trials", "1")
    refused = sweep("run", "drift", "--param", "lr=0.01..0.2", "--trials", "1",
                    "--root", tmp_path, *FAST)
    one_line_error(refused, 2, "created with a different search space", "--allow-space-change")
    allowed = run_json(tmp_path, "drift", "--param", "lr=0.01..0.2", "--trials", "1",
                       "--allow-space-change")
    assert allowed["ran"] == 1


def test_export_round_trip_reproduces_the_recorded_metric(tmp_path):
    import torch

    from torchsweep.trainer import TrainConfig, load_exported_model
    from torchsweep.trainer.data import load_data, make_batches

    run_json(tmp_path, "export_study", "--param", "lr=log:0.01..0.2", "--trials", "3")
    best = sweep_json("best", "export_study", "--root", tmp_path, "--export", tmp_path / "best")
    assert (tmp_path / "best" / "model.safetensors").is_file()
    params = json.loads((tmp_path / "best" / "params.json").read_text())
    metrics = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert params == best["best"]["params"]

    model, config, _ = load_exported_model(tmp_path / "best")
    assert isinstance(config, TrainConfig) and config.lr == params["lr"]
    data = load_data(config)
    _, val = make_batches(data, config, torch.device("cpu"), torch.Generator())
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in val)
    assert correct / len(data.val) == metrics["value"] == best["best"]["value"]
    # The model's picture: its autograd graph with every weight named, as SVG.
    needs(shutil.which("dot") is not None, "Graphviz's dot (apt-get install graphviz)")
    picture = (tmp_path / "best" / "model.svg").read_text()
    assert picture.startswith("<?xml") and "<svg" in picture
    assert all(name in picture for name, _ in model.named_parameters())
    assert best["export"]["picture"] == str(tmp_path / "best" / "model.svg")
    assert (tmp_path / "export_study" / "model.svg").is_file()     # for the study's report

    # Without Graphviz: one line saying so, and the export is otherwise complete.
    empty = tmp_path / "no-graphviz"
    empty.mkdir()
    done = sweep_process("best", "export_study", "--root", tmp_path, "--export",
                         tmp_path / "plain", env={"PATH": str(empty)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "note: no model.svg: Graphviz's dot is not installed (apt-get install graphviz); the "
        "export is otherwise complete"]
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == [
        "config.json", "metrics.json", "model.safetensors", "params.json"]


def test_the_readme_snippet_runs_an_exported_mnist1d_model_on_one_input(tmp_path,
                                                                       monkeypatch):
    """README's "Load an export in Python", run as it is written, on the export of a study on
    the bundled studies' dataset and model: the 1-D cnn, which (1, 40) failed with a matmul
    error (a (channels, length) sample taken for an unbatched input)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    snippet = re.search(r"Load an export in Python.*?```python\n(.*?)```", readme, re.S)[1]
    run_json(tmp_path, "readme", "--param", "lr=0.05", "--trials", "1",
             "--set", "dataset=mnist1d", "--set", "num_samples=200", "--set",
             f"data_dir={tmp_path / 'data'}", "--set", "width=8")   # the studies' 1-D cnn
    assert sweep("best", "readme", "--root", tmp_path, "--export", tmp_path / "best").exit_code == 0
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["input_shape"] == (1, 40)          # the comment's shape
    assert tuple(namespace["logits"].shape) == (1, 10)


def test_show_best_and_list_read_the_study(tmp_path):
    run_json(tmp_path, "seen", "--param", "lr=0.01..0.1", "--trials", "2")
    shown = sweep_json("show", "seen", "--root", tmp_path)
    assert [t["number"] for t in shown["trials"]] == [0, 1]
    assert all(t["epochs_run"] == 2 and t["duration_s"] > 0 for t in shown["trials"])
    best = sweep_json("best", "seen", "--root", tmp_path)
    assert best["best"]["value"] == max(t["value"] for t in shown["trials"])
    assert best["best"]["checkpoint"].startswith("seen/trials/")
    listed = sweep_json("list", "--root", tmp_path)
    assert "batchsize_study" in listed["bundled"]
    assert listed["studies"] == [{"name": "seen", "trials": 2, "best": best["best"]["value"]}]
    table = sweep("show", "seen", "--root", tmp_path)
    assert table.exit_code == 0 and "seen: 2 trials" in table.stdout


def test_unknown_study_in_existing_storage_names_the_known_ones(tmp_path):
    run_json(tmp_path, "present", "--param", "lr=0.01..0.1", "--trials", "1")
    one_line_error(sweep("show", "absent", "--root", tmp_path), 3, "no study named 'absent'",
                   "present")
    misspelt = one_line_error(sweep("report", "presnt", "--root", tmp_path), 3)
    assert misspelt.endswith("studies there: present; did you mean 'present'?")
    misspelt = one_line_error(sweep("runs", "presnt", "--root", tmp_path), 3)
    assert misspelt.endswith("did you mean 'present'?")


def test_a_normal_whose_far_tail_the_trainer_refuses_runs(tmp_path):
    """W&B runs this file, so we do: warmup_epochs drawn from a normal sometimes lands below 0
    or at the epoch count, which the trainer refuses. Those draws fail as infeasible (told to
    Optuna as pruned, so the sampler learns); the others train."""
    study = tmp_path / "warm.yaml"
    study.write_text("method: random\nparameters:\n"
                     "  warmup_epochs: {distribution: q_normal, mu: 0.5, sigma: 1, q: 1}\n"
                     "  epochs: {value: 2}\n  model: {value: mlp}\n  width: {value: 8}\n"
                     "  batch_size: {value: 512}\n")
    report = sweep_json("run", study, "--root", tmp_path, "--trials", "10", "--wandb",
                        "disabled", "--pruner", "none")
    outcomes = {(t["state"], t["reason"]) for t in report["trials"]}
    assert outcomes == {("completed", None), ("pruned", "infeasible")}, report["trials"]
    feasible = [t["params"]["warmup_epochs"] for t in report["trials"] if t["state"] == "completed"]
    assert set(feasible) <= {0, 1}
