import numpy as np
import pytest

from matching.ml.training import (
    ProductBatchSampler,
    TrainConfig,
    split_by_product,
    train_projection,
)

# products 0..9 with 1-4 offers (0, 4 and 8 have one); products 100..119 are lone
PIDS = [p for p in range(10) for _ in range(1 + p % 4)] + list(range(100, 120))


def _epoch(sampler: ProductBatchSampler) -> list[np.ndarray]:
    return list(iter(sampler))


def test_products_never_split_and_lone_offers_dropped() -> None:
    sampler = ProductBatchSampler(PIDS, batch_size=5, seed=1)
    batches = _epoch(sampler)
    seen = np.concatenate(batches)
    assert len(seen) == len(set(seen.tolist()))
    products_per_batch = [{PIDS[i] for i in b} for b in batches]
    for i, a in enumerate(products_per_batch):
        for b in products_per_batch[i + 1 :]:
            assert not a & b
    multi = {p for p in PIDS if PIDS.count(p) > 1}
    assert {PIDS[i] for i in seen} == multi  # all multi-offer products, no lone ones
    assert len(seen) == sum(PIDS.count(p) for p in multi)  # with all their offers
    assert all(len(b) <= 5 for b in batches)


def test_lone_share_keeps_that_fraction_each_epoch() -> None:
    sampler = ProductBatchSampler(PIDS, batch_size=8, seed=0, lone_share=0.25)
    lone_sets = []
    for _ in range(3):
        seen = np.concatenate(_epoch(sampler))
        lone = [i for i in seen if PIDS.count(PIDS[i]) == 1]
        assert len(lone) == 6  # 25% of the 23 lone offers (20 + products 0, 4, 8), rounded
        lone_sets.append(frozenset(lone))
    assert len(set(lone_sets)) > 1  # drawn afresh each epoch


def test_sampler_is_reproducible() -> None:
    a = ProductBatchSampler(PIDS, batch_size=6, seed=7, lone_share=0.5)
    b = ProductBatchSampler(PIDS, batch_size=6, seed=7, lone_share=0.5)
    for _ in range(2):
        for x, y in zip(_epoch(a), _epoch(b), strict=True):
            np.testing.assert_array_equal(x, y)
    c = ProductBatchSampler(PIDS, batch_size=6, seed=8, lone_share=0.5)
    assert any(not np.array_equal(x, y) for x, y in zip(_epoch(a), _epoch(c), strict=False))


def test_product_larger_than_batch_gets_its_own_batch() -> None:
    batches = _epoch(ProductBatchSampler(["a"] * 7 + ["b"] * 2, batch_size=4, seed=0))
    assert sorted(len(b) for b in batches) == [2, 7]


def test_missing_product_ids_are_lone() -> None:
    sampler = ProductBatchSampler(["a", "a", None, None, ""], batch_size=8, seed=0)
    assert sorted(np.concatenate(_epoch(sampler)).tolist()) == [0, 1]


def test_split_by_product_keeps_products_whole() -> None:
    train, val = split_by_product(PIDS, val_share=0.3, seed=0)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == len(PIDS)
    val_products = {PIDS[i] for i in val}
    assert all(PIDS[i] not in val_products for i in train)
    assert all(p < 100 for p in val_products)


def _clustered(n_products: int, per_product: int, dim: int, noise: float, seed: int):
    """Product signal in the first ``dim // 4`` columns, large offer-level nuisance elsewhere:
    raw cosine retrieval is poor, a learned projection can discard the nuisance."""
    rng = np.random.default_rng(seed)
    informative = dim // 4
    centres = rng.normal(size=(n_products, informative))
    pids = np.repeat(np.arange(n_products), per_product)
    signal = centres[pids] + noise * rng.normal(size=(len(pids), informative))
    nuisance = 3.0 * rng.normal(size=(len(pids), dim - informative))
    lone = rng.normal(size=(50, dim))
    x = np.concatenate([np.concatenate([signal, nuisance], axis=1), lone]).astype(np.float32)
    return x, [int(p) for p in pids] + [None] * 50


def test_training_reduces_loss_and_retrieves_val_products() -> None:
    x, pids = _clustered(n_products=200, per_product=3, dim=32, noise=0.2, seed=0)
    records = []
    config = TrainConfig(
        dim=16, epochs=30, batch_size=128, lr=1e-2, val_share=0.2, patience=30, seed=0
    )
    result = train_projection(features=x, product_ids=pids, config=config, progress=records.append)
    assert records == result.history
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.history[0]["val_r1"] < 0.2  # the nuisance columns dominate at first
    assert result.best["val_r1"] > 0.9
    assert set(result.history[0]) == {"epoch", "loss", "val_r1", "val_r3", "seconds"}
    assert result.head.project(x[:3]).shape == (3, 16)


def test_training_is_reproducible_and_stops_early() -> None:
    x, pids = _clustered(n_products=60, per_product=2, dim=8, noise=0.1, seed=1)
    config = TrainConfig(dim=4, epochs=40, batch_size=64, val_share=0.25, patience=2, seed=3)
    a = train_projection(features=x, product_ids=pids, config=config)
    b = train_projection(features=x, product_ids=pids, config=config)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    np.testing.assert_array_equal(a.head.project(x), b.head.project(x))
    assert len(a.history) < 40  # easy data: R@1 saturates, then patience runs out
    best = max(a.history, key=lambda h: (h["val_r1"], -h["loss"]))
    assert a.best_epoch == best["epoch"]


def test_training_without_validation_keeps_last_epoch() -> None:
    x, pids = _clustered(n_products=10, per_product=2, dim=4, noise=0.1, seed=2)
    result = train_projection(
        features=x, product_ids=pids, config=TrainConfig(dim=2, epochs=3, val_share=0.0)
    )
    assert result.best_epoch == 3 and len(result.val_indices) == 0
    assert np.isnan(result.history[0]["val_r1"])


def test_training_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        train_projection(features=np.zeros((3, 2)), product_ids=[1, 1], config=TrainConfig())


def test_input_dropout_is_reproducible_and_changes_training() -> None:
    x, pids = _clustered(n_products=60, per_product=2, dim=8, noise=0.1, seed=1)
    config = TrainConfig(dim=4, epochs=3, batch_size=64, val_share=0.25, seed=3, input_dropout=0.2)
    a = train_projection(features=x, product_ids=pids, config=config)
    b = train_projection(features=x, product_ids=pids, config=config)
    np.testing.assert_array_equal(a.head.project(x), b.head.project(x))
    plain = train_projection(
        features=x, product_ids=pids, config=TrainConfig(dim=4, epochs=3, batch_size=64, seed=3)
    )
    assert a.history[0]["loss"] != plain.history[0]["loss"]


def test_default_batch_and_lr_suit_small_catalogues() -> None:
    config = TrainConfig()
    assert (config.batch_size, config.lr, config.temperature, config.dim) == (1024, 3e-3, 0.06, 192)


def _textbook_supcon(z, labels, *, temperature):
    """SupCon as a full masked log-softmax over the batch (the reference the blocked loss
    replaces); anchors without positives skipped, mean over the others."""
    import torch

    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    logits = ((z @ z.T) / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = positives.sum(dim=1)
    valid = n_pos > 0
    if not bool(valid.any()):
        return z.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return (-pos_log_prob[valid] / n_pos[valid]).mean()


def test_training_matches_the_textbook_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    from matching.ml import training

    x, pids = _clustered(n_products=150, per_product=3, dim=24, noise=0.3, seed=4)
    config = TrainConfig(
        dim=8, epochs=6, batch_size=96, lone_share=0.3, val_share=0.2, patience=6, seed=2
    )
    fast = train_projection(features=x, product_ids=pids, config=config)
    monkeypatch.setattr(training, "supcon_loss", _textbook_supcon)
    slow = train_projection(features=x, product_ids=pids, config=config)
    assert [h["val_r1"] for h in fast.history] == [h["val_r1"] for h in slow.history]
    np.testing.assert_allclose(
        [h["loss"] for h in fast.history], [h["loss"] for h in slow.history], rtol=1e-5
    )
    np.testing.assert_allclose(fast.head.project(x), slow.head.project(x), atol=1e-4)
