"""Training labels from product ids and verdicts; the sampler's hard negatives."""

from __future__ import annotations

import numpy as np
import pytest

from matching.ml.labels import (
    build_labels,
    parse_label_sources,
    restrict_negatives,
)
from matching.ml.training import ProductBatchSampler, TrainConfig, train_projection


def test_label_sources_are_parsed_and_checked():
    assert parse_label_sources(None) == ("product_ids",)
    assert parse_label_sources("verdicts, product_ids") == ("product_ids", "verdicts")
    assert parse_label_sources(["verdicts"]) == ("verdicts",)
    with pytest.raises(ValueError, match="unknown label source.*votes"):
        parse_label_sources("product_ids,votes")
    assert TrainConfig(labels=["verdicts"]).labels == ("verdicts",)
    with pytest.raises(ValueError, match="min_gold_accuracy"):
        TrainConfig(min_gold_accuracy=1.5)


def _partition(groups):
    out: dict = {}
    for i, g in enumerate(groups):
        if g is not None:
            out.setdefault(g, set()).add(i)
    return sorted(sorted(s) for s in out.values())


def test_union_find_joins_product_ids_accepted_pairs_and_clusters():
    labels = build_labels(
        n=8,
        product_ids=["a", None, "a", "", "b", None, None, None],
        accepted_pairs=[(1, 2), (3, 4)],  # 1 joins product a; 3 joins product b
        clusters=[None, None, None, None, None, "k", "k", None],
    )
    assert _partition(labels.groups) == [[0, 1, 2], [3, 4], [5, 6]]
    assert labels.groups[7] is None
    assert all(g is None or (isinstance(g, str) and g) for g in labels.groups)
    c = labels.counts
    assert (c["product_id_offers"], c["accepted_pairs"], c["cluster_offers"]) == (2, 2, 2)
    assert (c["groups"], c["grouped_offers"]) == (3, 7)


def test_rejections_become_symmetric_hard_negatives_unless_contradicted():
    labels = build_labels(
        n=5,
        accepted_pairs=[(0, 1)],
        rejected_pairs=[(0, 2), (0, 3), (1, 0), (4, 2)],  # (1, 0) contradicts the acceptance
    )
    assert labels.hard_negatives == {0: (2, 3), 2: (0, 4), 3: (0,), 4: (2,)}
    assert labels.counts["rejected_pairs"] == 3
    assert labels.counts["rejections_contradicted"] == 1
    with pytest.raises(ValueError, match="outside the 5 offers"):
        build_labels(n=5, rejected_pairs=[(0, 5)])
    with pytest.raises(ValueError, match="one entry per offer"):
        build_labels(n=5, product_ids=["a"])


def test_restricting_negatives_to_a_subset_reindexes_and_drops_outsiders():
    negs = {0: (2, 3), 2: (0,), 3: (0,)}
    assert restrict_negatives(negs, [3, 0, 1]) == {0: (1,), 1: (0,)}
    assert restrict_negatives(negs, [1, 2]) == {}


def test_the_sampler_puts_hard_negatives_into_their_anchors_batch():
    # products: {0,1}, {2,3}, {4,5}, {6,7}; lone 8, 9; 0 rejected 8, 4 rejected 9 and 6
    pids = ["a", "a", "b", "b", "c", "c", "d", "d", None, None]
    negs = {0: (8,), 8: (0,), 4: (9, 6), 9: (4,), 6: (4,)}
    sampler = ProductBatchSampler(pids, batch_size=4, seed=0, hard_negatives=negs)
    for _ in range(5):
        batches = [set(b.tolist()) for b in sampler]
        assert all(len(b) <= 4 for b in batches)
        for anchor, rejected in ((0, {8}), (4, {6, 9})):
            home = [b for b in batches if {anchor, anchor ^ 1} <= b]
            assert len(home) == 1 and rejected <= home[0]
        # every product is trained once per epoch
        for p in range(0, 8, 2):
            assert sum({p, p + 1} <= b for b in batches) == 1


def test_without_negatives_the_sampler_is_unchanged():
    pids = [i // 3 for i in range(30)] + [None] * 5
    a = ProductBatchSampler(pids, batch_size=7, seed=4, lone_share=0.4)
    b = ProductBatchSampler(pids, batch_size=7, seed=4, lone_share=0.4, hard_negatives={})
    for _ in range(3):
        assert [x.tolist() for x in a] == [y.tolist() for y in b]


def test_hard_negatives_separate_what_positives_alone_do_not():
    """A product is told apart from its look-alike only by two weak features (a colour, say);
    every other product differs in all features. Positives alone give the head no reason to
    weigh the weak features; the look-alikes, rejected and put into their anchors' batches, do."""
    rng = np.random.default_rng(0)
    n_products = 24
    feats, pids, negs = [], [], {}
    for p in range(n_products):
        shape, colour = rng.normal(size=8), rng.normal(size=2) * 0.3
        a = len(feats)
        feats += [np.r_[shape, colour], np.r_[shape, colour] + 0.02 * rng.normal(size=10)]
        feats.append(np.r_[shape, rng.normal(size=2) * 0.3])  # the look-alike: other colour
        pids += [f"p{p}", f"p{p}", None]
        negs[a] = (a + 2,)
        negs[a + 2] = (a,)
    x = np.asarray(feats, dtype=np.float32)
    cfg = TrainConfig(dim=8, epochs=40, batch_size=12, val_share=0.0, patience=100, lr=1e-2)

    def margin(hard_negatives):
        head = train_projection(
            features=x, product_ids=pids, config=cfg, hard_negatives=hard_negatives
        ).head
        z = head.project(x)
        return np.mean(
            [z[3 * p] @ z[3 * p + 1] - z[3 * p] @ z[3 * p + 2] for p in range(n_products)]
        )

    with_negatives, without = margin(negs), margin(None)
    assert with_negatives > without + 0.2, (with_negatives, without)
