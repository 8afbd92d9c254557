import math

import pytest
import torch

from matching.ml.losses import supcon_loss


def _reference_supcon(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """The straightforward form (full masked log-softmax), as ``supcon_loss`` was first written."""
    n = z.shape[0]
    logits = (z @ z.T) / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = positives.sum(dim=1)
    valid = n_pos > 0
    if not bool(valid.any()):
        return z.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return (-pos_log_prob[valid] / n_pos[valid]).mean()


def _value_and_grad(loss_fn, z: torch.Tensor) -> tuple[float, torch.Tensor]:
    leaf = z.detach().clone().requires_grad_()
    loss = loss_fn(leaf)
    loss.backward()
    return float(loss.detach()), leaf.grad


def _hand_supcon(z: list[list[float]], labels: list[int], tau: float) -> float:
    n = len(z)
    dot = [
        [sum(a * b for a, b in zip(z[i], z[j], strict=True)) for j in range(n)] for i in range(n)
    ]
    losses = []
    for i in range(n):
        positives = [j for j in range(n) if j != i and labels[j] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(dot[i][k] / tau) for k in range(n) if k != i)
        terms = [math.log(math.exp(dot[i][j] / tau) / denom) for j in positives]
        losses.append(-sum(terms) / len(positives))
    return sum(losses) / len(losses)


def _unit(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def test_matches_hand_computation_on_four_samples() -> None:
    z = [_unit([1.0, 0.2]), _unit([0.9, 0.4]), _unit([-0.3, 1.0]), _unit([0.1, -1.0])]
    labels = [0, 0, 1, 1]
    tau = 0.5
    expected = _hand_supcon(z, labels, tau)
    got = supcon_loss(torch.tensor(z, dtype=torch.float64), torch.tensor(labels), temperature=tau)
    assert math.isclose(float(got), expected, rel_tol=1e-9)


def test_anchors_without_positives_are_skipped() -> None:
    z = [_unit([1.0, 0.2]), _unit([0.9, 0.4]), _unit([-0.3, 1.0]), _unit([0.1, -1.0])]
    labels = [0, 0, 1, 2]  # samples 2 and 3 have no positive, but stay in the denominators
    tau = 0.1
    expected = _hand_supcon(z, labels, tau)
    got = supcon_loss(torch.tensor(z, dtype=torch.float64), torch.tensor(labels), temperature=tau)
    assert math.isclose(float(got), expected, rel_tol=1e-9)


def test_no_positive_anywhere_gives_zero_with_grad() -> None:
    z = torch.nn.functional.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    loss = supcon_loss(z, torch.tensor([0, 1, 2]))
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert z.grad is not None


def test_gradient_flows_and_is_finite_at_low_temperature() -> None:
    torch.manual_seed(0)
    raw = torch.randn(8, 16, requires_grad=True)
    z = torch.nn.functional.normalize(raw, dim=1)
    loss = supcon_loss(z, torch.tensor([0, 0, 1, 1, 2, 2, 3, 4]), temperature=0.06)
    loss.backward()
    assert torch.isfinite(loss)
    assert raw.grad is not None and torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0


def test_loss_is_lower_when_positives_are_close() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    bad = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert supcon_loss(good, labels) < supcon_loss(bad, labels)


def _random_batch(n: int, d: int, *, seed: int, dtype=torch.float64):
    """Unit vectors and labels with pairs, larger groups and singletons (lone offers)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.nn.functional.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1)
    labels = torch.randint(0, max(1, n // 2), (n,), generator=gen)
    return z, labels


@pytest.mark.parametrize("temperature", [0.06, 0.5, 1.0])
@pytest.mark.parametrize("row_block", [None, 1, 5, 64])
@pytest.mark.parametrize("n", [2, 9, 37, 150])
def test_value_and_gradient_equal_the_reference(n: int, row_block: int | None, temperature: float):
    z, labels = _random_batch(n, 12, seed=n)
    assert (torch.bincount(labels) == 1).any() or n == 2  # singletons are in the batch
    ref_value, ref_grad = _value_and_grad(lambda x: _reference_supcon(x, labels, temperature), z)
    value, grad = _value_and_grad(
        lambda x: supcon_loss(x, labels, temperature=temperature, row_block=row_block), z
    )
    assert math.isclose(value, ref_value, rel_tol=1e-12, abs_tol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_gradient_through_normalisation_and_upstream_scale_equal_the_reference() -> None:
    gen = torch.Generator().manual_seed(3)
    raw = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    labels = torch.arange(40) // 3  # groups of 3 and a last group of 1

    def ref(x):
        return 2.5 * _reference_supcon(torch.nn.functional.normalize(x, dim=1), labels, 0.06)

    def new(x):
        return 2.5 * supcon_loss(torch.nn.functional.normalize(x, dim=1), labels, row_block=7)

    ref_value, ref_grad = _value_and_grad(ref, raw)
    value, grad = _value_and_grad(new, raw)
    assert math.isclose(value, ref_value, rel_tol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "scale", "temperature"),
    [
        (torch.float32, 1.0, 0.005),  # exp(1/t) overflows float32: the row-max shift is used
        (torch.float64, 30.0, 0.5),  # long vectors: |z|^2/t = 1800 overflows float64
    ],
)
def test_large_logits_use_the_shifted_path_and_stay_exact(
    dtype: torch.dtype, scale: float, temperature: float
) -> None:
    z, labels = _random_batch(60, 8, seed=7, dtype=torch.float64)
    z = z * scale
    ref_value, ref_grad = _value_and_grad(lambda x: _reference_supcon(x, labels, temperature), z)
    value, grad = _value_and_grad(
        lambda x: supcon_loss(x, labels, temperature=temperature, row_block=16), z.to(dtype)
    )
    assert math.isfinite(value) and torch.isfinite(grad).all()
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    assert math.isclose(value, ref_value, rel_tol=rtol)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=rtol * 100, atol=rtol)


def test_float32_batch_matches_float64_reference() -> None:
    z, labels = _random_batch(500, 32, seed=11)
    ref_value, ref_grad = _value_and_grad(lambda x: _reference_supcon(x, labels, 0.06), z)
    value, grad = _value_and_grad(lambda x: supcon_loss(x, labels, row_block=64), z.float())
    assert math.isclose(value, ref_value, rel_tol=1e-5)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-3, atol=1e-6)


def test_without_grad_gives_the_same_value() -> None:
    z, labels = _random_batch(30, 5, seed=2)
    with torch.no_grad():
        value = supcon_loss(z, labels, row_block=4)
    assert value.grad_fn is None
    assert math.isclose(float(value), float(_reference_supcon(z, labels, 0.06)), rel_tol=1e-12)


def test_bad_arguments_are_rejected() -> None:
    z, labels = _random_batch(4, 3, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        supcon_loss(z, labels, temperature=0.0)
    with pytest.raises(ValueError, match="row_block"):
        supcon_loss(z, labels, row_block=0)
    with pytest.raises(ValueError, match="shape"):
        supcon_loss(z, labels[:3])
