"""Each sampler and pruner doing its job in a real sweep, through the CLI: the model-based
samplers leave their random start-up for the good region, CMA-ES moves its search towards each
generation's best, QMC spreads its points evenly, and every pruner stops trials early.

The objective is real training, kept cheap: an mlp of width 8, one epoch at batch size 512 on
digits. Its val_acc rises with the learning rate up to about 1 and falls beyond, so over
lr in [0.001, 10] the good region is a decade or so wide. Runs are seeded, so each test is
deterministic on a machine; what it asserts is what the sampler's model explains, with margins.
"""
from __future__ import annotations

import math

import pytest
from cli_helpers import sweep_json
from worker_helpers import trials

ONE_EPOCH = ("--set", "model=mlp", "--set", "width=8", "--set", "epochs=1", "--set",
             "batch_size=512", "--pruner", "none", "--wandb", "disabled", "--seed", "0")
LR = ("--param", "lr=log:0.001..10")
START_UP = 10          # the random trials TPESampler and GPSampler begin with (Optuna's default)
NEAR = 0.5             # decades of lr around the best start-up trial: a quarter of the range


def run(root, study: str, sampler: str, count: int, *space: str) -> list[dict]:
    """The trials of a fresh study, in the order they ran."""
    report = sweep_json("run", study, *space, "--sampler", sampler, "--trials", str(count),
                        *ONE_EPOCH, "--root", root)
    return sorted(report["trials"], key=lambda trial: trial["number"])


def decades(trial: dict) -> float:
    return math.log10(trial["params"]["lr"])


@pytest.fixture(scope="module")
def random_draws(tmp_path_factory) -> list[dict]:
    """What RandomSampler proposes with the same seed: the start-up of TPE and GP is exactly
    this, and what they propose after it is not."""
    return run(tmp_path_factory.mktemp("random"), "drawn", "random", 16, *LR)


@pytest.mark.parametrize("sampler, count", [("tpe", 16), ("gp", 14)])
def test_a_model_based_sampler_leaves_its_random_start_up_for_the_good_region(
        random_draws, tmp_path, sampler, count):
    found = run(tmp_path, sampler, sampler, count, *LR)
    lrs, drawn = [decades(t) for t in found], [decades(t) for t in random_draws[:count]]
    assert lrs[:START_UP] == drawn[:START_UP]
    best = lrs[max(range(START_UP), key=lambda i: found[i]["value"])]
    after, drawn_after = lrs[START_UP:], drawn[START_UP:]
    assert after != drawn_after                     # proposed by the model, not drawn
    # At least half of them near the best start-up trial, where random draws put a quarter
    # (and, with this seed, put fewer than half).
    near = sum(abs(lr - best) <= NEAR for lr in after)
    assert near >= len(after) / 2 > sum(abs(lr - best) <= NEAR for lr in drawn_after), after


def test_tpe_leaves_its_start_up_on_a_bundled_conditional_study(tmp_path):
    """optimizer_study (bayes: multivariate, grouped TPE) past its 10 random trials: the next
    proposals come from TPE, and each takes only the parameters its optimizer allows."""
    space = sweep_json("space", "optimizer_study")["parameters"]
    cheap = ("--set", "epochs=1", "--set", "model=mlp", "--set", "width=8", "--wandb",
             "disabled", "--seed", "0", "--set", f"data_dir={tmp_path / 'data'}")
    tpe, drawn = (sorted(sweep_json("run", "optimizer_study", "--trials", "12", *sampler, *cheap,
                                    "--root", tmp_path / name)["trials"],
                         key=lambda t: t["number"])
                  for name, sampler in (("tpe", ()), ("random", ("--sampler", "random"))))
    assert [t["params"] for t in tpe[:START_UP]] == [t["params"] for t in drawn[:START_UP]]
    assert [t["params"] for t in tpe[START_UP:]] != [t["params"] for t in drawn[START_UP:]]
    for trial in tpe[START_UP:]:
        assert trial["state"] == "completed"
        for name, spec in space.items():
            allowed = all(trial["params"].get(other) in values
                          for other, values in spec.get("when", {}).items())
            assert (name in trial["params"]) == allowed, (name, trial["params"])


def test_cmaes_moves_its_search_towards_each_generations_best(tmp_path):
    """After one random trial CMA-ES samples generations of 6 (its population for two
    dimensions) around a mean, which it moves towards the best of the generation before."""
    found = run(tmp_path, "cmaes", "cmaes", 13, *LR, "--param", "momentum=0..0.99")
    by_number = {t.number: t for t in trials("cmaes", tmp_path)}
    generation = [by_number[t["number"]].system_attrs.get("cma:generation") for t in found]
    assert generation == [None] + [0] * 6 + [1] * 6        # sampled from its own state
    first, second = found[1:7], found[7:13]
    best = decades(max(first, key=lambda t: t["value"]))
    mean = [sum(map(decades, group)) / len(group) for group in (first, second)]
    assert abs(mean[1] - best) < abs(mean[0] - best) - 0.25, (mean, best)


def test_qmc_puts_one_point_in_each_eighth_of_the_range(tmp_path):
    """After one random trial, eight QMC (Sobol) points over log(lr) fall one in each eighth of
    the range: an evenness that eight independent draws reach once in 400 runs (8!/8^8)."""
    found = run(tmp_path, "qmc", "qmc", 9, *LR)
    eighths = sorted(math.floor((decades(t) + 3) / 4 * 8 + 1e-6) for t in found[1:])
    assert eighths == list(range(8))


# --- pruners ---------------------------------------------------------------------------------

# The median pruner within epochs, after its warm-up: test_pruning.py.
def test_successive_halving_stops_trials_at_its_rungs_in_epochs(tmp_path):
    report = sweep_json("run", "halving", *LR, "--sampler", "random", "--pruner",
                        "successive_halving", "--trials", "8", "--set", "epochs=4", "--set",
                        "model=mlp", "--set", "width=8", "--set", "batch_size=512", "--wandb",
                        "disabled", "--root", tmp_path)
    pruned = [t for t in report["trials"] if t["state"] == "pruned"]
    # rungs at min_resource (1 epoch of samples) times eta 3: whole epochs 1 and 3
    assert pruned and {t["pruned_at"] for t in pruned} <= {1, 3}


def test_a_bundled_studys_hyperband_prunes_at_its_first_cut(tmp_path):
    """full_study's early_terminate (hyperband) with the study's own min_iter, in epochs: the
    trials it stops end at its rungs, though every trial is evaluated several times an
    epoch."""
    first_cut = sweep_json("space", "full_study")["early_terminate"]["min_iter"]
    # a whole epoch past the cut (2 at least: the study warms up for 1)
    report = sweep_json("run", "full_study", "--trials", "8", "--set",
                        f"epochs={max(2, math.floor(first_cut) + 1)}",
                        "--set", "model=mlp", "--set", "width=8", "--set",
                        f"data_dir={tmp_path / 'data'}", "--wandb", "disabled", "--root", tmp_path)
    # (not those whose draw cannot train: warmup_epochs 1 of epochs 1)
    pruned = [t for t in report["trials"] if t["state"] == "pruned" and t["reason"] is None]
    # min_iter is in epochs, counted in samples: the cuts fall at it, or eta (3) times it
    cuts = {t["pruned_at"] for t in pruned}
    assert first_cut in cuts and cuts <= {first_cut, 3 * first_cut}, cuts
