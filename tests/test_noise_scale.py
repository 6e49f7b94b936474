"""The gradient noise scale estimator, on a problem whose answer is known exactly: linear
regression with Gaussian noise, where every per-example gradient can be written down."""

import pytest
import torch

from torchsweep.trainer.noise_scale import NoiseScale, backward_measured, small_batch


def test_the_estimate_is_within_ten_percent_of_the_exact_noise_scale():
    generator = torch.Generator().manual_seed(0)
    dimension, population = 8, 20_000
    inputs = torch.randn(population, dimension, generator=generator)
    targets = inputs @ torch.ones(dimension) + 0.5 * torch.randn(population, generator=generator)
    model = torch.nn.Linear(dimension, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()                     # away from the optimum: |G|² is not tiny

    def criterion(outputs, batch_targets):      # mean squared error / 2
        return 0.5 * torch.mean((outputs.squeeze(1) - batch_targets) ** 2)

    # Exact, from the per-example gradients g_i = x_i (w.x_i - y_i) of the whole population.
    per_example = inputs * (inputs @ model.weight.detach().squeeze(0) - targets)[:, None]
    exact = per_example.var(0, unbiased=False).sum() / per_example.mean(0).pow(2).sum()

    estimate = NoiseScale(decay=0.999)
    big = 128
    small = small_batch(big)
    assert small == 32
    for _ in range(3000):                         # batches drawn with replacement
        batch = torch.randint(population, (big,), generator=generator)
        model.zero_grad()
        outputs = model(inputs[batch])
        small_sq, big_sq = backward_measured(criterion(outputs, targets[batch]),
                                             criterion(outputs[:small], targets[batch][:small]),
                                             list(model.parameters()))
        estimate.add(small_sq, small, big_sq, big)
    assert estimate.value == pytest.approx(float(exact), rel=0.10)
    # The measurement left the whole batch's gradient in the parameters, bit for bit.
    whole = torch.autograd.grad(criterion(model(inputs[batch]), targets[batch]), model.weight)[0]
    assert torch.equal(model.weight.grad, whole)


def test_fp16_loss_scale_is_divided_out():
    """A gradient scaler's factor multiplies both gradients; the norms come back unscaled."""
    model = torch.nn.Linear(4, 3)
    inputs, targets = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    criterion = torch.nn.CrossEntropyLoss()

    def measured(factor):
        model.zero_grad()
        outputs = model(inputs)
        return backward_measured(criterion(outputs, targets), criterion(outputs[:2], targets[:2]),
                                 list(model.parameters()), lambda loss: loss * factor, factor)

    assert measured(1024.0) == pytest.approx(measured(1.0), rel=1e-6)


def test_measurements_need_two_batch_sizes():
    with pytest.raises(ValueError, match="need 0 < small < big batch"):
        NoiseScale().add(1.0, 8, 1.0, 8)
    assert NoiseScale().value is None
    assert [small_batch(n) for n in (1, 2, 3, 4, 7, 8, 64)] == [0, 1, 1, 1, 1, 2, 16]
