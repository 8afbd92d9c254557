"""Command `replay_aggregation` and the replay section of the quality page."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from validation.models import Judgement, ReviewRow
from validation.selectors.quality import aggregation_replay, quality_report
from validation.services.routing import route_run
from validation.simulation import simulate

from ..conftest import make_user


@pytest.fixture
def judged(run):
    route_run(run=run, accept=0.8, review=0.3)
    simulate(run=run, validators=4, tpr=0.8, fpr=0.05, seed=3)
    return run


def test_replay_of_the_live_rule_reproduces_the_live_decisions_and_the_command(judged):
    res = {r["rule"]: r for r in aggregation_replay(run=judged)}
    decided = ReviewRow.objects.filter(run=judged, status="decided")
    two = res["stop_when_two_agree"]  # the live rule (early decision, majority of three)
    assert two["decided"] == decided.count() and two["undecided"] == 0
    assert two["votes"] == Judgement.objects.filter(row__run=judged).count()
    live = quality_report(run=judged, n_boot=10)["aggregated"]
    assert (two["tp"], two["fn"], two["fp"], two["tn"]) == (
        live["tp"],
        live["fn"],
        live["fp"],
        live["tn"],
    )
    # rows decided by two agreeing judgements have no third one for the full majority
    n_two = sum(1 for r in decided if r.n_judgements == 2)
    assert n_two > 0 and res["majority"]["undecided"] == n_two
    assert res["dawid_skene"]["decided"] == decided.count()
    # the command prints the same replay
    out = io.StringIO()
    call_command("replay_aggregation", str(judged.pk), stdout=out)
    text = out.getvalue()
    assert f"aggregation replay of run #{judged.pk}" in text
    for label in ("every judgement asked", "stop when two agree", "unanimous", "Dawid"):
        assert label in text
    with pytest.raises(CommandError, match="no such run"):
        call_command("replay_aggregation", "999999")


def test_quality_page_section_on_request_admins_only(client, judged, admin_user):
    url = reverse("validation:quality", args=[judged.pk])
    client.force_login(make_user("v1"))
    assert client.get(url, {"replay": "1"}).status_code == 403
    client.force_login(admin_user)
    page = client.get(url)
    assert b"Replay the aggregation rules" in page.content and b"Dawid" not in page.content
    page = client.get(url, {"replay": "1"})
    assert page.status_code == 200
    assert b"stop when two agree" in page.content and b"Dawid" in page.content
