"""trainer.optim: the loss, the optimizers, and the schedule's per-batch/per-epoch cadence."""
import math

import pytest
import torch
from torch import nn

from torchsweep.trainer.config import TrainConfig
from torchsweep.trainer.data import load_data, make_batches
from torchsweep.trainer.optim import WARMUP_START_FACTOR, Schedule, build_loss, build_optimizer


def params():
    return [nn.Parameter(torch.zeros(3))]


def lrs_over(config: TrainConfig, steps_per_epoch: int, val_losses=None):
    """Drive a Schedule as the loop does; return the lr used by every batch, per epoch."""
    optimizer = build_optimizer(config, params())
    schedule = Schedule(config, optimizer, steps_per_epoch)
    epochs = []
    for epoch in range(config.epochs):
        seen = []
        for _ in range(steps_per_epoch):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(val_losses[epoch] if val_losses else 1.0)
        epochs.append(seen)
    return epochs, optimizer, schedule


# --- loss ---------------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_label_smoothing_matches_hand_computation(eps):
    torch.manual_seed(0)
    logits = torch.randn(16, 7) * 3
    targets = torch.randint(0, 7, (16,))
    log_p = torch.log_softmax(logits, dim=1)
    nll = -log_p[torch.arange(16), targets]
    uniform = -log_p.mean(dim=1)
    expected = ((1 - eps) * nll + eps * uniform).mean()
    loss = build_loss(TrainConfig(label_smoothing=eps))(logits, targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


def test_label_smoothing_changes_the_loss():
    logits = torch.tensor([[10.0, 0.0, 0.0]])
    targets = torch.tensor([0])
    plain = build_loss(TrainConfig())(logits, targets)
    smooth = build_loss(TrainConfig(label_smoothing=0.3))(logits, targets)
    assert smooth > plain  # an over-confident correct prediction is penalised


# --- optimizers ---------------------------------------------------------------------------

def test_sgd():
    opt = build_optimizer(TrainConfig(optimizer="sgd", lr=0.2, momentum=0.8, nesterov=True,
                                      weight_decay=1e-3), params())
    assert type(opt) is torch.optim.SGD
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == \
        (0.2, 0.8, True, 1e-3)


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_adam_family(name, cls):
    opt = build_optimizer(TrainConfig(optimizer=name, lr=3e-4, beta1=0.8, beta2=0.95,
                                      weight_decay=0.01), params())
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (3e-4, (0.8, 0.95), 0.01)


def test_adamw_decay_is_decoupled():
    """AdamW shrinks weights by lr*wd directly; Adam's L2 term is normalised away."""
    results = {}
    for name in ("adam", "adamw"):
        weight = nn.Parameter(torch.ones(1))
        opt = build_optimizer(TrainConfig(optimizer=name, lr=0.1, weight_decay=0.5), [weight])
        weight.grad = torch.zeros(1)
        opt.step()
        results[name] = weight.item()
    assert results["adamw"] == pytest.approx(1 - 0.1 * 0.5)
    assert results["adam"] == pytest.approx(1 - 0.1, rel=1e-4)  # normalised step of size lr


def test_rmsprop():
    opt = build_optimizer(TrainConfig(optimizer="rmsprop", lr=0.01, momentum=0.5,
                                      weight_decay=1e-4), params())
    assert type(opt) is torch.optim.RMSprop
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.5, 1e-4)


def test_rprop():
    opt = build_optimizer(TrainConfig(optimizer="rprop", lr=0.02, weight_decay=0), params())
    assert type(opt) is torch.optim.Rprop
    assert opt.param_groups[0]["lr"] == 0.02


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "rprop"])
@pytest.mark.parametrize("scaling", ["none", "linear", "sqrt"])
def test_optimizer_gets_effective_lr(optimizer, scaling):
    config = TrainConfig(optimizer=optimizer, weight_decay=0, lr=0.1, lr_scaling=scaling,
                         batch_size=256, base_batch_size=64)
    opt = build_optimizer(config, params())
    assert opt.param_groups[0]["lr"] == config.effective_lr
    assert config.effective_lr == {"none": 0.1, "linear": 0.4, "sqrt": 0.2}[scaling]


# --- schedule cadence ---------------------------------------------------------------------

def test_warmup_rises_per_batch_then_step_per_epoch():
    n = 10
    config = TrainConfig(lr=0.1, epochs=4, warmup_epochs=1, scheduler="step", step_size=1,
                         gamma=0.5)
    epochs, _, _ = lrs_over(config, n)
    warmup = epochs[0]
    expected = [0.1 * (WARMUP_START_FACTOR + (1 - WARMUP_START_FACTOR) * k / n) for k in range(n)]
    assert warmup == pytest.approx(expected, rel=1e-9)
    assert warmup[0] == pytest.approx(0.1 * 0.01)
    assert all(b > a for a, b in zip(warmup, warmup[1:]))  # strictly rising, batch by batch
    # after warmup the main schedule holds the lr within an epoch and steps between epochs
    for epoch, lr in zip(epochs[1:], [0.1, 0.05, 0.025]):
        assert epoch == pytest.approx([lr] * n, rel=1e-9)


def test_warmup_then_cosine_per_epoch():
    n = 7
    config = TrainConfig(lr=0.2, epochs=4, warmup_epochs=1, scheduler="cosine")
    epochs, _, _ = lrs_over(config, n)
    assert epochs[0][0] == pytest.approx(0.002) and epochs[0][-1] < 0.2
    t_max = 3  # epochs after warmup
    for e, epoch in enumerate(epochs[1:]):
        expected = 0.2 * (1 + math.cos(math.pi * e / t_max)) / 2
        assert epoch == pytest.approx([expected] * n, rel=1e-9)


def test_two_warmup_epochs():
    n = 5
    config = TrainConfig(lr=1.0, epochs=3, warmup_epochs=2, scheduler="constant")
    epochs, _, _ = lrs_over(config, n)
    flat = epochs[0] + epochs[1]
    assert flat == pytest.approx([0.01 + 0.99 * k / (2 * n) for k in range(2 * n)], rel=1e-9)
    assert epochs[2] == pytest.approx([1.0] * n)


@pytest.mark.parametrize("scheduler, expected", [
    ("constant", [0.1, 0.1, 0.1, 0.1]),
    ("step", [0.1, 0.1, 0.05, 0.05]),
    ("exponential", [0.1, 0.05, 0.025, 0.0125]),
    ("cosine", [0.1 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
])
def test_epoch_schedules_step_once_per_epoch(scheduler, expected):
    config = TrainConfig(lr=0.1, epochs=4, scheduler=scheduler, step_size=2, gamma=0.5)
    epochs, _, _ = lrs_over(config, 6)
    for epoch, lr in zip(epochs, expected):
        assert epoch == pytest.approx([lr] * 6, rel=1e-9)


@pytest.mark.parametrize("drop_last", [False, True])
def test_onecycle_steps_per_batch_over_all_batches(drop_last):
    config = TrainConfig(scheduler="onecycle", optimizer="adam", lr=0.01, epochs=3,
                         batch_size=100, drop_last=drop_last, weight_decay=0)
    data = load_data(config)
    train, _ = make_batches(data, config, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert len(train) == (14 if drop_last else 15)  # 1437 training samples
    optimizer = build_optimizer(config, params())
    schedule = Schedule(config, optimizer, len(train))
    assert schedule.main.total_steps == config.epochs * len(train)
    seen = []
    for _ in range(config.epochs):
        for _batch in train:  # the real batches, so their count is what the schedule gets
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(1.0)
    assert len(seen) == schedule.main.total_steps
    assert seen[0] == pytest.approx(0.01 / 25)
    assert max(seen) == pytest.approx(0.01, rel=1e-3)
    peak = seen.index(max(seen))
    assert 0 < peak < len(seen) - 1
    assert len(set(seen[:3])) == 3  # changes within the first epoch, batch by batch
    assert seen[-1] < 0.01 * 1e-5  # the last batch trains at max_lr / 25 / 1e4
    assert seen[-1] == pytest.approx(0.01 / 25 / 1e4, rel=1e-6)
    with pytest.raises(ValueError):  # the cycle was used up exactly: one more step is too many
        schedule.main.step()


def test_onecycle_cycles_momentum_only_where_there_is_one():
    sgd = TrainConfig(scheduler="onecycle", optimizer="sgd", momentum=0.9, epochs=2)
    assert Schedule(sgd, build_optimizer(sgd, params()), 5).main.cycle_momentum
    plain = sgd.replace(momentum=0.0)
    assert not Schedule(plain, build_optimizer(plain, params()), 5).main.cycle_momentum


def test_plateau_reduces_after_patience_bad_epochs():
    config = TrainConfig(lr=0.1, epochs=8, scheduler="plateau", patience=2, gamma=0.5)
    # improves for 2 epochs, then stalls
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    epochs, optimizer, _ = lrs_over(config, 3, losses)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    per_epoch = [e[0] for e in epochs]
    # epochs 3 and 4 are the `patience` tolerated bad ones; epoch 5, the third, decays the
    # lr that epoch 6 trains with; the count restarts, so epochs 6-8 decay again after 8
    assert per_epoch == pytest.approx([0.1] * 5 + [0.05] * 3)


def test_plateau_holds_while_improving():
    config = TrainConfig(lr=0.1, epochs=6, scheduler="plateau", patience=0, gamma=0.1)
    epochs, optimizer, _ = lrs_over(config, 2, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    assert [e[0] for e in epochs] == pytest.approx([0.1] * 6)
    _, optimizer, _ = lrs_over(config, 2, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1 ** 5)


@pytest.mark.parametrize("settings", [
    dict(scheduler="cosine", warmup_epochs=1),
    dict(scheduler="step", step_size=1, warmup_epochs=2),
    dict(scheduler="onecycle"),
    dict(scheduler="plateau", patience=0),
    dict(scheduler="exponential"),
    dict(scheduler="constant", warmup_epochs=1),
])
def test_schedule_state_round_trip(settings):
    config = TrainConfig(lr=0.1, epochs=4, gamma=0.5, **settings)
    n, split = 6, 8  # stop in the middle of epoch 2
    losses = [1.0, 1.1, 1.2, 1.3]

    def drive(optimizer, schedule, start, stop):
        seen = []
        for step in range(start, stop):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.after_batch()
            if (step + 1) % n == 0:
                schedule.after_epoch(losses[step // n])
        return seen

    opt_a = build_optimizer(config, params())
    sched_a = Schedule(config, opt_a, n)
    straight = drive(opt_a, sched_a, 0, 4 * n)

    opt_b = build_optimizer(config, params())
    sched_b = Schedule(config, opt_b, n)
    first = drive(opt_b, sched_b, 0, split)
    opt_c = build_optimizer(config, params())
    sched_c = Schedule(config, opt_c, n)
    opt_c.load_state_dict(opt_b.state_dict())
    sched_c.load_state_dict(sched_b.state_dict())
    assert sched_c.steps_taken == split
    rest = drive(opt_c, sched_c, split, 4 * n)
    assert first + rest == straight
    assert len(set(straight)) > 1
