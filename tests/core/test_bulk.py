"""core.bulk.bulk_insert writes the rows bulk_create writes (COPY on PostgreSQL)."""

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone

from core import bulk
from matching.models import MatchRun, Offer, Shop
from validation.models import Decision, ReviewRow

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _run_and_offers(n: int):
    shop = Shop.objects.create(name="s")
    Offer.objects.bulk_create(
        [Offer(shop=shop, offer_id=f"o{i}", title="t", text_normalised="t") for i in range(n)]
    )
    pks = list(Offer.objects.order_by("pk").values_list("pk", flat=True))
    return MatchRun.objects.create(query_shop=shop, index_shop=shop, features="text"), pks


def _rows(run, pks) -> list[ReviewRow]:
    return [
        ReviewRow(
            run=run,
            query_offer_id=pk,
            candidate_ids=[pks[(i + 1) % len(pks)], pks[(i + 2) % len(pks)]],
            top1_similarity=np.float32(0.25 * (i % 4)),  # numpy scalars, as routing gives
            kind=ReviewRow.Kind.GOLD if i % 3 == 0 else ReviewRow.Kind.REVIEW,
            truth=ReviewRow.Truth.MATCH if i % 2 else ReviewRow.Truth.UNKNOWN,
            truth_offer_id=pks[0] if i % 2 else None,
            judgements_needed=np.int64(3),
        )
        for i, pk in enumerate(pks)
    ]


FIELDS = (
    "query_offer_id",
    "candidate_ids",
    "top1_similarity",
    "kind",
    "status",
    "truth",
    "truth_offer_id",
    "judgements_needed",
    "n_judgements",
    "decision",
    "no_majority",
    "votes_for",
    "decided_at",
    "routing_id",
)


def test_bulk_insert_writes_what_bulk_create_writes(monkeypatch):
    run_a, pks = _run_and_offers(25)
    run_b = MatchRun.objects.create(query_shop=run_a.query_shop, index_shop=run_a.index_shop)
    monkeypatch.setattr(bulk, "BATCH", 4)  # several COPY statements / batches
    before = timezone.now()
    assert bulk.bulk_insert(_rows(run_a, pks)) == 25
    ReviewRow.objects.bulk_create(_rows(run_b, pks))
    got = list(ReviewRow.objects.filter(run=run_a).order_by("query_offer_id").values_list(*FIELDS))
    want = list(ReviewRow.objects.filter(run=run_b).order_by("query_offer_id").values_list(*FIELDS))
    assert got == want and len(got) == 25
    assert {kind for _, _, _, kind, *_ in got} == {"gold", "review"}  # values, not enum names
    created = ReviewRow.objects.filter(run=run_a).values_list("created_at", flat=True)
    assert all(c >= before for c in created)  # auto_now_add filled in


def test_bulk_insert_keeps_a_failed_batch_out_entirely():
    run, pks = _run_and_offers(3)
    now = timezone.now()
    decisions = [
        Decision(run=run, query_offer_id=pk, matched_offer_id=pk, source="auto", decided_at=now)
        for pk in pks
    ]
    decisions.append(decisions[0])  # violates decision_unique_query
    with pytest.raises(Exception, match="unique|UNIQUE"), transaction.atomic():
        bulk.bulk_insert(decisions)
    assert not Decision.objects.exists()


def test_bulk_insert_refuses_mixed_models():
    run, pks = _run_and_offers(1)
    with pytest.raises(TypeError, match="one model"):
        bulk.bulk_insert([_rows(run, pks)[0], Shop(name="x")])
    assert bulk.bulk_insert([]) == 0


def test_bulk_insert_with_pks_gives_the_objects_their_rows(monkeypatch):
    run, pks = _run_and_offers(8)
    monkeypatch.setattr(bulk, "BATCH", 3)
    earlier = ReviewRow.objects.create(
        run=run, query_offer_id=pks[0], candidate_ids=[], top1_similarity=0.5
    )
    rows = _rows(run, pks[1:-1])
    assert bulk.bulk_insert(rows, with_pks=True) == 6
    assert all(r.pk is not None and not r._state.adding for r in rows)
    assert len({r.pk for r in rows} | {earlier.pk}) == 7
    for r in rows:
        assert ReviewRow.objects.get(pk=r.pk).query_offer_id == r.query_offer_id
    later = ReviewRow.objects.create(
        run=run, query_offer_id=pks[-1], candidate_ids=[], top1_similarity=0.5
    )
    assert later.pk > max(r.pk for r in rows)  # the key's sequence moved past them


def test_copy_rows_writes_plain_rows_as_objects_would(monkeypatch):
    run, pks = _run_and_offers(5)
    monkeypatch.setattr(bulk, "BATCH", 2)
    now = timezone.now()
    fields = ["run_id", "query_offer_id", "matched_offer_id", "similarity", "source", "decided_at"]
    rows = [(run.pk, pk, pks[0], np.float32(0.5), Decision.Source.AUTO, now) for pk in pks]
    assert bulk.copy_rows(Decision, fields, rows) == 5
    got = sorted(Decision.objects.filter(run=run).values_list(*fields))
    assert got == sorted((run.pk, pk, pks[0], 0.5, "auto", now) for pk in pks)
    assert set(Decision.objects.filter(run=run).values_list("votes_for", flat=True)) == {0}
    assert bulk.copy_rows(Decision, fields, []) == 0


def test_rows_by_ids_reads_the_rows_of_many_ids():
    _, pks = _run_and_offers(1000)  # more than one SQLite chunk
    want = set(Offer.objects.values_list("id", "offer_id"))
    assert set(bulk.rows_by_ids(Offer, [*pks, *pks[:5]], ["id", "offer_id"])) == want
    shop = Offer.objects.get(pk=pks[0]).shop_id
    assert bulk.rows_by_ids(Offer, [pks[3]], ["shop_id"], by="id") == [(shop,)]
    assert bulk.rows_by_ids(Offer, [max(pks) + 1], ["id"]) == []
    assert bulk.rows_by_ids(Offer, [], ["id"]) == []
