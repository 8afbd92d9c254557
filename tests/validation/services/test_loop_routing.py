"""The daily loop on a synthetic catalogue: verdicts of one run are reused by the next one."""

from __future__ import annotations

import io

import pytest

from demo.synthetic_run import create_synthetic_run
from matching import loop_selectors
from matching.models import Candidate, MatchRun, Offer, PairVerdict, ProductMembership
from matching.product_export import write_products_csv
from validation.models import Decision, ReviewRow
from validation.services.routing import route_run
from validation.simulation import simulate

pytestmark = pytest.mark.django_db


def rerun(run: MatchRun) -> MatchRun:
    """The same match again (same shops, same candidates): a new run."""
    new = MatchRun.objects.create(
        status=MatchRun.Status.DONE,
        query_shop=run.query_shop,
        index_shop=run.index_shop,
        features=run.features,
        k=run.k,
        n_queries=run.n_queries,
        n_index=run.n_index,
        pr_curve=run.pr_curve,
        metrics=run.metrics,
    )
    Candidate.objects.bulk_create(
        Candidate(
            run=new,
            query_offer_id=c.query_offer_id,
            candidate_offer_id=c.candidate_offer_id,
            rank=c.rank,
            similarity=c.similarity,
        )
        for c in run.candidates.all()
    )
    return new


def rejected_pairs() -> set[tuple[int, int]]:
    return set(
        PairVerdict.objects.filter(verdict="rejected", source="human").values_list(
            "query_offer_id", "candidate_offer_id"
        )
    )


def export_text() -> str:
    buf = io.StringIO()
    write_products_csv(buf)
    return buf.getvalue()


@pytest.fixture
def no_gold(cfg):
    cfg.gold_pool_size = 0  # gold rows are drawn per run; this scenario counts review rows
    cfg.save()
    return cfg


def test_rerun_creates_no_review_row_and_never_auto_accepts_a_rejected_pair(no_gold):
    run = create_synthetic_run(n_queries=60, seed=3)
    first = route_run(run=run, accept=2.0, review=0.0)  # everything to review
    assert first["n_review"] == 60
    simulate(run=run, validators=5, tpr=0.9, fpr=0.02, seed=1)
    rows = ReviewRow.objects.filter(run=run, kind="review")
    assert not rows.exclude(status="decided").exists()
    rejected = rejected_pairs()
    assert rejected  # validators rejected some candidates
    products_before = export_text()
    assert products_before.count("\n") > 1

    # next day: the same match, now with an accept threshold that would auto-accept most
    second = rerun(run)
    summary = route_run(run=second, accept=0.3, review=0.0)
    assert not ReviewRow.objects.filter(run=second).exists()
    assert summary["n_review_rows_created"] == 0
    assert summary["n_reused_accepted"] + summary["n_reused_rejected"] == 60
    decided = Decision.objects.filter(run=second)
    assert decided.count() == 60
    accepted = set(
        decided.filter(matched_offer__isnull=False).values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    assert not accepted & rejected
    # the reused decisions are the humans' decisions of the first run
    assert accepted == set(
        Decision.objects.filter(run=run, matched_offer__isnull=False).values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    assert set(decided.values_list("source", flat=True)) == {"human"}
    # product keys identical across the re-run (and its re-routing)
    assert export_text() == products_before
    route_run(run=second, accept=0.3, review=0.0)
    assert export_text() == products_before
    # --new-only would match none of these queries
    qids = list(Offer.objects.filter(shop=run.query_shop).values_list("pk", flat=True))
    assert loop_selectors.decided_query_offers(qids) == set(qids)


def test_auto_band_and_review_band_rerun_reuses_both(no_gold):
    run = create_synthetic_run(n_queries=80, seed=4)
    route_run(run=run, accept=0.8, review=0.5)
    n_auto = Decision.objects.filter(run=run, source="auto").count()
    assert n_auto > 0
    assert PairVerdict.objects.filter(run=run, source="auto").count() == n_auto
    simulate(run=run, validators=4, tpr=0.9, fpr=0.02, seed=2)
    n_rows = ReviewRow.objects.filter(run=run, kind="review").count()
    assert n_rows > 0
    keys = dict(ProductMembership.objects.values_list("offer_id", "product__key"))

    second = rerun(run)
    summary = route_run(run=second, accept=0.8, review=0.5)
    assert summary["n_review_rows_created"] == 0
    assert dict(ProductMembership.objects.values_list("offer_id", "product__key")) == keys
    auto2 = set(
        Decision.objects.filter(run=second, source="auto").values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    auto1 = set(
        Decision.objects.filter(run=run, source="auto").values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    assert auto2 == auto1  # reused, not re-decided

    # an offer that changed loses its verdicts: its query is routed (and reviewed) again
    changed_row = ReviewRow.objects.filter(run=run, kind="review").first()
    Offer.objects.filter(pk=changed_row.query_offer_id).update(content_hash="edited")
    third = rerun(run)
    route_run(run=third, accept=0.8, review=0.5)
    assert list(ReviewRow.objects.filter(run=third).values_list("query_offer_id", flat=True)) == [
        changed_row.query_offer_id
    ]


def test_rerouting_the_same_run_recomputes_its_auto_verdicts(no_gold):
    run = create_synthetic_run(n_queries=40, seed=5)
    route_run(run=run, accept=0.6, review=0.4)
    n_low = PairVerdict.objects.filter(run=run, source="auto").count()
    route_run(run=run, accept=0.9, review=0.4)
    n_high = PairVerdict.objects.filter(run=run, source="auto").count()
    assert n_high < n_low
    assert n_high == Decision.objects.filter(run=run, source="auto").count()
    # withdrawn acceptances left the products
    assert ProductMembership.objects.count() == 2 * n_high
