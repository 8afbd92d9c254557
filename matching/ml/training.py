"""Training of the projection head: product-id batch sampler, loop, validation R@k."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .device import resolve_device
from .grouping import group_by_product
from .labels import parse_label_sources, restrict_negatives
from .losses import supcon_loss
from .projection import ProjectionHead


class ProductBatchSampler:
    """Yields index arrays; every batch holds ALL offers of the products sampled into it.

    Lone offers (products with a single offer) are dropped, except a random ``lone_share`` of
    them drawn afresh every epoch. Each epoch shuffles the products and fills a batch product by
    product; a product that would push the batch past ``batch_size`` starts the next batch, so
    batches are at most ``batch_size`` (a single product larger than that forms its own batch)
    and the last batch of an epoch may be smaller. Every kept product appears exactly once per
    epoch. Reproducible: the same ``seed`` gives the same sequence of epochs.

    ``hard_negatives`` (offer position -> positions of offers rejected as its match, from
    :func:`matching.ml.labels.build_labels`): a product's unit then also carries its members'
    hard negatives that are not in the batch yet (they count towards ``batch_size``), so the
    contrastive denominator of its anchors contains them; a negative may thus appear in more
    than one batch of an epoch. Without hard negatives the batches are exactly those above.
    """

    def __init__(
        self,
        product_ids: Sequence[Hashable | None],
        *,
        batch_size: int,
        seed: int,
        lone_share: float = 0.0,
        hard_negatives: dict[int, Sequence[int]] | None = None,
    ) -> None:
        if batch_size < 2:
            raise ValueError("batch_size must be >= 2")
        if not 0.0 <= lone_share <= 1.0:
            raise ValueError("lone_share must be in [0, 1]")
        groups = group_by_product(product_ids)
        self.multi = [g for g in groups if len(g) > 1]
        self.lone = np.asarray([g[0] for g in groups if len(g) == 1], dtype=np.int64)
        self.batch_size = batch_size
        self.lone_share = lone_share
        self.hard_negatives = {int(k): tuple(v) for k, v in (hard_negatives or {}).items() if v}
        self._rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[np.ndarray]:
        n_lone = round(self.lone_share * len(self.lone))
        lone = self._rng.choice(self.lone, size=n_lone, replace=False) if n_lone else []
        units = self.multi + [np.asarray([i], dtype=np.int64) for i in lone]
        if self.hard_negatives:
            yield from self._with_negatives(units)
            return
        batch: list[np.ndarray] = []
        size = 0
        for u in self._rng.permutation(len(units)):
            unit = units[u]
            if batch and size + len(unit) > self.batch_size:
                yield np.concatenate(batch)
                batch, size = [], 0
            batch.append(unit)
            size += len(unit)
        if batch:
            yield np.concatenate(batch)

    def _with_negatives(self, units: list[np.ndarray]) -> Iterator[np.ndarray]:
        batch: list[int] = []
        in_batch: set[int] = set()

        def add(i: int) -> None:
            if i not in in_batch:
                batch.append(i)
                in_batch.add(i)

        for u in self._rng.permutation(len(units)):
            unit = [int(i) for i in units[u]]
            members = set(unit)
            negs = sorted({k for i in unit for k in self.hard_negatives.get(i, ())} - members)
            need = sum(i not in in_batch for i in unit) + sum(k not in in_batch for k in negs)
            if batch and len(batch) + need > self.batch_size:
                yield np.asarray(batch, dtype=np.int64)
                batch, in_batch = [], set()
            for i in unit:
                add(i)
            for k in negs:  # as many as fit (all of them unless the unit alone nearly fills it)
                if len(batch) >= self.batch_size:
                    break
                add(k)
        if batch:
            yield np.asarray(batch, dtype=np.int64)


@dataclass
class TrainConfig:
    """Hyper-parameters; the paper's linear head to 192-d, tau 0.06, AdamW, no lone offers.

    Batch size and learning rate differ from the paper's 16384 / 1e-3: that batch was ~1% of
    its 1.5M training offers. On catalogues of a few thousand offers 16384 is one step per epoch;
    1024 with lr 3e-3 trained better on all three dev benchmarks (fashion in- and out-of-domain,
    abt-buy, walmart-amazon; bench/quality_experiments.py). For millions of offers pass the
    paper's values. ``epochs`` is a cap (early stopping on validation R@1 decides): 100, because
    the smaller batches make an epoch fewer steps; 100 instead of 50 gave +0.4 AUCPR in-domain and
    +1.0 out-of-domain on fashion-xshop-dev over two seeds. ``input_dropout`` drops input
    features (inverted dropout) during training. ``calibration_share``: share of the products
    (lone offers included) the training SERVICE holds out before training, to calibrate the
    model's scores on them (matching/ml/calibration.py); 0 = no calibration. The loop here
    never sees them; ``val_share`` is taken from what is left. ``discriminator_folds`` (>= 2;
    read by the training service): the pair discriminator learns out-of-fold from that many
    extra projections, each trained without one fold of the products, and the final projection
    trains on every product (no calibration split; the calibration is fit on the out-of-fold
    discriminator scores); 0: it learns from the ``calibration_share`` split only.
    ``discriminator_stacked``: a second classifier also sees how each pair's first probability
    compares with the other candidates of its shortlist (matching/ml/list_features.py).
    """

    dim: int = 192
    hidden: int = 0
    epochs: int = 100
    batch_size: int = 1024
    lone_share: float = 0.0
    temperature: float = 0.06
    lr: float = 3e-3
    weight_decay: float = 1e-2
    input_dropout: float = 0.0
    val_share: float = 0.1
    calibration_share: float = 0.2
    discriminator_folds: int = 3
    discriminator_stacked: bool = True
    patience: int = 5
    seed: int = 0
    device: str | None = None
    # training data, read by the training SERVICE (matching/services/training_labels.py):
    # which label sources (matching.ml.labels.LABEL_SOURCES) and, for verdicts, the gold
    # accuracy every validator of a review row must reach (None: every decided row counts)
    labels: tuple[str, ...] = ("product_ids",)
    min_gold_accuracy: float | None = None

    def __post_init__(self) -> None:
        self.labels = parse_label_sources(self.labels)
        if self.discriminator_folds == 1 or self.discriminator_folds < 0:
            raise ValueError("discriminator_folds must be 0 (off) or at least 2")
        if self.min_gold_accuracy is not None and not 0.0 <= self.min_gold_accuracy <= 1.0:
            raise ValueError("min_gold_accuracy must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """The best head (CPU, eval mode), per-epoch history and the split used."""

    head: ProjectionHead
    history: list[dict[str, float]]
    best_epoch: int
    config: TrainConfig
    val_indices: np.ndarray = field(repr=False)
    train_indices: np.ndarray = field(repr=False)

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch - 1]


def split_by_product(
    product_ids: Sequence[Hashable | None], *, val_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train offer indices, val offer indices): ``val_share`` of the multi-offer products go to
    validation with all their offers; lone offers always stay in training."""
    groups = group_by_product(product_ids)
    multi = [g for g in groups if len(g) > 1]
    n_val = round(val_share * len(multi))
    if val_share > 0 and len(multi) >= 4:
        n_val = max(n_val, 2)
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(len(multi))[:n_val].tolist())
    val = [g for i, g in enumerate(multi) if i in chosen]
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(product_ids), dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx


@torch.inference_mode()
def retrieval_recall(
    z: torch.Tensor, labels: torch.Tensor, *, ks: Sequence[int] = (1, 3), chunk: int = 4096
) -> dict[int, float]:
    """R@k when every row queries all other rows (leave-one-out); over rows with a positive."""
    n = z.shape[0]
    kmax = min(max(ks), n - 1)
    hits = {k: 0 for k in ks}
    n_valid = 0
    for start in range(0, n, chunk):
        q = z[start : start + chunk]
        sim = q @ z.T
        rows = torch.arange(start, start + len(q), device=z.device)
        sim[torch.arange(len(q), device=z.device), rows] = float("-inf")
        top = sim.topk(kmax, dim=1).indices
        same = labels[top] == labels[rows][:, None]
        has_pos = (labels == labels[rows][:, None]).sum(1) > 1
        n_valid += int(has_pos.sum())
        for k in ks:
            hits[k] += int((same[:, :k].any(1) & has_pos).sum())
    return {k: hits[k] / n_valid if n_valid else float("nan") for k in ks}


def train_projection(
    *,
    features: np.ndarray,
    product_ids: Sequence[Hashable | None],
    config: TrainConfig,
    progress: Callable[[dict[str, float]], None] | None = None,
    hard_negatives: dict[int, Sequence[int]] | None = None,
) -> TrainResult:
    """Train a projection head with the supervised contrastive loss.

    Validation: ``val_share`` of the multi-offer products (all their offers) are held out; each
    val offer queries all other val offers; R@1/R@3 over val offers. Early stopping on val R@1
    (ties broken by lower training loss) with ``patience`` epochs; the best weights are
    restored. Without validation products every epoch is "better" and the last one is kept.
    The whole feature matrix is moved to the device once (needs n*d*4 bytes there).
    ``progress`` receives each epoch's history record. ``product_ids`` may be any group ids
    (:func:`matching.ml.labels.build_labels`); ``hard_negatives`` (row -> rows, positions in
    ``features``) go into their anchors' batches (:class:`ProductBatchSampler`); pairs with an
    end in validation are dropped.
    """
    device = resolve_device(config.device)
    x_all = np.asarray(features, dtype=np.float32)
    if x_all.ndim != 2 or len(x_all) != len(product_ids):
        raise ValueError("features must be (n, d) with one product id per row")
    train_idx, val_idx = split_by_product(product_ids, val_share=config.val_share, seed=config.seed)
    codes = _label_codes(product_ids)
    x = torch.from_numpy(x_all).to(device)
    labels = torch.from_numpy(codes).to(device)
    sampler = ProductBatchSampler(
        [product_ids[i] for i in train_idx],
        batch_size=config.batch_size,
        seed=config.seed,
        lone_share=config.lone_share,
        hard_negatives=restrict_negatives(hard_negatives, train_idx) if hard_negatives else None,
    )
    train_idx_t = torch.from_numpy(train_idx).to(device)
    val_idx_t = torch.from_numpy(val_idx).to(device)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = ProjectionHead(x_all.shape[1], config.dim, config.hidden).to(device)
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    noise = torch.Generator(device=device).manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best_key: tuple[float, float] | None = None
    best_epoch, best_state, stale = 0, None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        head.train()
        loss_sum, n_seen = 0.0, 0
        for batch in sampler:
            rows = train_idx_t[torch.from_numpy(batch).to(device)]
            inputs = x[rows]
            if config.input_dropout > 0:
                keep = torch.rand(inputs.shape, generator=noise, device=device)
                inputs = inputs * (keep >= config.input_dropout) / (1 - config.input_dropout)
            loss = supcon_loss(head(inputs), labels[rows], temperature=config.temperature)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_sum += float(loss.detach()) * len(batch)
            n_seen += len(batch)
        record: dict[str, float] = {"epoch": epoch, "loss": loss_sum / max(n_seen, 1)}
        head.eval()
        if len(val_idx):
            recall = retrieval_recall(head(x[val_idx_t]), labels[val_idx_t], ks=(1, 3))
            record["val_r1"], record["val_r3"] = recall[1], recall[3]
        else:
            record["val_r1"] = record["val_r3"] = float("nan")
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if progress is not None:
            progress(record)

        r1 = record["val_r1"] if len(val_idx) else float(epoch)
        key = (r1, -record["loss"])
        if best_key is None or key > best_key:
            best_key, best_epoch, stale = key, epoch, 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break

    assert best_state is not None
    head.load_state_dict(best_state)
    return TrainResult(
        head=head.cpu().eval(),
        history=history,
        best_epoch=best_epoch,
        config=config,
        val_indices=val_idx,
        train_indices=train_idx,
    )


def _label_codes(product_ids: Sequence[Hashable | None]) -> np.ndarray:
    """Integer label per offer; missing ids get unique labels (they match nothing)."""
    codes = np.empty(len(product_ids), dtype=np.int64)
    for code, group in enumerate(group_by_product(product_ids)):
        codes[group] = code
    return codes
