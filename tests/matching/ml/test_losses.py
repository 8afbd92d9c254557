import math

import torch

from matching.ml.losses import supcon_loss


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
