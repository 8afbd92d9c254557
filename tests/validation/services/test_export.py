"""services/export.py: export files, inline and as a job."""

from __future__ import annotations

import csv

import pytest
from django.utils.module_loading import import_string

from matching.models import MatchRun
from matching.selectors import RunNotDone
from validation.models import Decision, Export
from validation.services import export as services
from validation.services.routing import route_run

from ..helpers import judge, judge_row


def test_export_csv(run, validators, tmp_path):
    route_run(run=run, accept=0.8, review=0.5)
    row = judge(validators[0], choice=None)
    row = judge_row(validators[1], row, row.candidate_ids[0])  # two agree: decided
    out = tmp_path / "out.csv"
    n, dropped = services.write_export(run=run, path=out)
    rows = list(csv.DictReader(out.open()))
    assert (
        len(rows)
        == n
        == Decision.objects.filter(run=run, matched_offer__isnull=False).count() - dropped
    )
    human = [r for r in rows if r["decision"] == "human"]
    assert len(human) == 1 and human[0]["votes_for"] == "2" and human[0]["votes_total"] == "2"
    assert all(r["decision"] in ("auto", "human") for r in rows)


def test_request_export_inline_and_as_job(
    run, admin_user, cfg, monkeypatch, django_capture_on_commit_callbacks
):
    route_run(run=run, accept=0.5, review=0.3)
    exp = services.request_export(run=run, user=admin_user)
    assert exp.status == "done" and exp.n_rows > 0
    cfg.export_inline_max = 0
    cfg.save()
    calls = []
    monkeypatch.setattr(
        "core.queues.enqueue",
        lambda queue, func, *a: calls.append((queue, import_string(func)(*a))),
    )
    with django_capture_on_commit_callbacks(execute=True):
        exp2 = services.request_export(run=run, user=admin_user)
    assert calls and calls[0][0] == "export" and calls[0][1] == exp.n_rows
    exp2.refresh_from_db()
    assert exp2.status == "done"


DANGEROUS = ["=", "+", "-", "@", "\t", "\r"]


def test_export_neutralises_formula_cells(run, tmp_path):
    """Offer ids and shop names starting with =, +, -, @, tab or CR get a leading apostrophe;
    the similarity the app writes is a number and stays one, even when negative."""
    route_run(run=run, accept=0.5, review=0.3)
    decisions = list(
        Decision.objects.filter(run=run, matched_offer__isnull=False).select_related(
            "query_offer", "matched_offer"
        )[: len(DANGEROUS)]
    )
    assert len(decisions) == len(DANGEROUS)
    for c, d in zip(DANGEROUS, decisions, strict=True):
        d.query_offer.offer_id = f'{c}HYPERLINK("http://evil","x")'
        d.query_offer.save(update_fields=["offer_id"])
        d.matched_offer.offer_id = f"{c}1+1"
        d.matched_offer.save(update_fields=["offer_id"])
    run.query_shop.name = "=cmd|' /C calc'!A0"
    run.query_shop.save(update_fields=["name"])
    run.index_shop.name = "@SUM(1+1)"
    run.index_shop.save(update_fields=["name"])
    Decision.objects.filter(pk=decisions[0].pk).update(similarity=-0.12)

    out = tmp_path / "out.csv"
    n, _ = services.write_export(run=run, path=out)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n > 0
    text_columns = ("query_offer_id", "query_shop", "matched_offer_id", "matched_shop")
    for r in rows:
        for col in text_columns:
            assert not r[col].startswith(tuple(DANGEROUS)), (col, r[col])
        assert r["query_shop"] == "'=cmd|' /C calc'!A0"
        assert r["matched_shop"] == "'@SUM(1+1)"
    by_query = {r["query_offer_id"]: r for r in rows}
    for c in DANGEROUS:
        row = by_query[f'\'{c}HYPERLINK("http://evil","x")']
        assert row["matched_offer_id"] == f"'{c}1+1"
    assert by_query['\'=HYPERLINK("http://evil","x")']["similarity"] == "-0.120000"


@pytest.mark.parametrize("status", [MatchRun.Status.RUNNING, MatchRun.Status.FAILED])
def test_a_run_that_is_not_done_is_not_exported(run, admin_user, tmp_path, status):
    route_run(run=run, accept=0.5, review=0.3)
    run.status = status
    run.save(update_fields=["status"])
    out = tmp_path / "out.csv"
    with pytest.raises(RunNotDone, match=f"is {status}, not done"):
        services.write_export(run=run, path=out)
    assert not out.exists()
    with pytest.raises(RunNotDone):
        services.request_export(run=run, user=admin_user)
    assert not Export.objects.filter(run=run).exists()


def test_the_export_job_path_names_the_job():
    from validation import jobs

    assert import_string(services.EXPORT_JOB) is jobs.run_export
