"""Candidates are written in bulk (COPY on PostgreSQL), identical to one object per row."""

import numpy as np
import pytest

from matching.models import Candidate, MatchRun, Offer, Shop
from matching.services import matching as matching_service

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _run_and_offers(n_queries: int, n_index: int):
    qshop = Shop.objects.create(name="q")
    ishop = Shop.objects.create(name="i")
    for shop, prefix, n in ((qshop, "q", n_queries), (ishop, "i", n_index)):
        Offer.objects.bulk_create(
            [
                Offer(shop=shop, offer_id=f"{prefix}{i}", title="t", text_normalised="t")
                for i in range(n)
            ]
        )
    q_pks = list(Offer.objects.filter(shop=qshop).order_by("pk").values_list("pk", flat=True))
    i_pks = list(Offer.objects.filter(shop=ishop).order_by("pk").values_list("pk", flat=True))
    run = MatchRun.objects.create(query_shop=qshop, index_shop=ishop, features="text")
    return run, q_pks, i_pks


def _result(n_queries: int, n_index: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n_index, size=(n_queries, k))
    sims = rng.uniform(-1, 1, size=(n_queries, k)).astype(np.float32)
    indices[rng.random((n_queries, k)) < 0.2] = -1  # some queries have fewer than k
    sims[indices < 0] = -np.inf
    indices[3] = -1  # and one has none
    return indices, sims


def _one_object_per_row(run, q_pks, i_pks, indices, sims) -> list[tuple]:
    """What the service wrote before (a Candidate object per row), as tuples."""
    return [
        (q_pks[q], i_pks[int(i)], rank + 1, float(sims[q, rank]))
        for q in range(len(q_pks))
        for rank, i in enumerate(indices[q])
        if i >= 0
    ]


def _stored(run) -> list[tuple]:
    return list(
        Candidate.objects.filter(run=run)
        .order_by("query_offer_id", "rank")
        .values_list("query_offer_id", "candidate_offer_id", "rank", "similarity")
    )


def test_bulk_written_candidates_equal_one_object_per_row():
    run, q_pks, i_pks = _run_and_offers(40, 60)
    indices, sims = _result(40, 60, k=3)
    rows = matching_service.candidate_rows(
        query_pks=q_pks, index_pks=i_pks, indices=indices, similarities=sims
    )
    expected = _one_object_per_row(run, q_pks, i_pks, indices, sims)
    assert 0 < len(expected) < 40 * 3
    assert matching_service.store_candidates(run_id=run.pk, rows=rows) == len(expected)
    assert _stored(run) == expected  # exact floats too: float32 widened, as float() does


def test_batches_split_without_losing_or_repeating_rows(monkeypatch):
    run, q_pks, i_pks = _run_and_offers(50, 30)
    indices, sims = _result(50, 30, k=4, seed=1)
    monkeypatch.setattr(matching_service, "BULK_BATCH", 7)
    monkeypatch.setattr(matching_service, "COPY_BATCH", 7)
    rows = matching_service.candidate_rows(
        query_pks=q_pks, index_pks=i_pks, indices=indices, similarities=sims
    )
    matching_service.store_candidates(run_id=run.pk, rows=rows)
    assert _stored(run) == _one_object_per_row(run, q_pks, i_pks, indices, sims)


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="n queries = 2"):
        matching_service.candidate_rows(
            query_pks=[1, 2],
            index_pks=[5],
            indices=np.zeros((3, 1), dtype=np.int64),
            similarities=np.zeros((3, 1), dtype=np.float32),
        )


def test_postgres_writes_candidates_with_copy_not_inserts(postgres_only, monkeypatch):
    run, q_pks, i_pks = _run_and_offers(10, 10)
    indices, sims = _result(10, 10, k=3, seed=2)

    def no_inserts(*args, **kwargs):
        raise AssertionError("bulk_create used on PostgreSQL")

    monkeypatch.setattr(Candidate.objects, "bulk_create", no_inserts)
    rows = matching_service.candidate_rows(
        query_pks=q_pks, index_pks=i_pks, indices=indices, similarities=sims
    )
    matching_service.store_candidates(run_id=run.pk, rows=rows)
    assert _stored(run) == _one_object_per_row(run, q_pks, i_pks, indices, sims)
