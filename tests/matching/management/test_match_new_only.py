import pytest
from django.core.management import CommandError, call_command

from matching import verdicts as vrules
from matching.models import Candidate, MatchRun, Offer
from matching.services import loop

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

COMMON = [
    "--query-shop", "boulevard", "--index-shop", "atelier", "--since", "2025-07-01",
    "--features", "text", "--k", "2",
]  # fmt: skip


def verdict(q, c, v):
    return vrules.NewVerdict(query_offer_id=q, candidate_offer_id=c, verdict=v, source="human")


def test_new_only_matches_only_queries_without_a_valid_decision(imported_cross_shop):
    imported_cross_shop(n_products=6, images=False)
    call_command("encode", "--image-encoder", "none", "--no-progress")
    call_command("match", *COMMON)
    full = MatchRun.objects.get()
    cands = list(Candidate.objects.filter(run=full, rank=1).order_by("query_offer_id"))
    assert full.n_queries >= 3
    accepted, rejected = cands[0], cands[1]
    loop.record_verdicts(
        verdicts=[
            verdict(accepted.query_offer_id, accepted.candidate_offer_id, vrules.ACCEPTED),
            verdict(rejected.query_offer_id, rejected.candidate_offer_id, vrules.REJECTED),
        ]
    )
    call_command("match", *COMMON, "--new-only")
    inc = MatchRun.objects.order_by("-pk").first()
    assert inc.n_queries == full.n_queries - 2
    assert inc.metrics["n_skipped_decided"] == 2 and inc.metrics["new_only"] is True
    queried = set(Candidate.objects.filter(run=inc).values_list("query_offer_id", flat=True))
    assert not queried & {accepted.query_offer_id, rejected.query_offer_id}

    # an edited offer loses its verdicts and is matched again
    Offer.objects.filter(pk=accepted.query_offer_id).update(content_hash="edited")
    call_command("encode", "--image-encoder", "none", "--no-progress")  # the daily re-encode
    call_command("match", *COMMON, "--new-only")
    assert MatchRun.objects.order_by("-pk").first().n_queries == full.n_queries - 1

    loop.record_verdicts(
        verdicts=[verdict(c.query_offer_id, c.candidate_offer_id, vrules.ACCEPTED) for c in cands]
    )
    with pytest.raises(CommandError, match="already have a valid decision"):
        call_command("match", *COMMON, "--new-only")
