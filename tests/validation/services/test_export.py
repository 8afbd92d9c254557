"""services/export.py: export files, inline and as a job."""

from __future__ import annotations

import csv

from django.utils.module_loading import import_string

from validation.models import Decision
from validation.services import export as services
from validation.services.routing import route_run

from ..helpers import judge, judge_row


def test_export_csv(run, validators, tmp_path):
    route_run(run=run, accept=0.8, review=0.5)
    row = judge(validators[0], choice=None)
    for v in validators[1:3]:
        row = judge_row(v, row, row.candidate_ids[0])
    out = tmp_path / "out.csv"
    n, dropped = services.write_export(run=run, path=out)
    rows = list(csv.DictReader(out.open()))
    assert (
        len(rows)
        == n
        == Decision.objects.filter(run=run, matched_offer__isnull=False).count() - dropped
    )
    human = [r for r in rows if r["decision"] == "human"]
    assert len(human) == 1 and human[0]["votes_for"] == "3" and human[0]["votes_total"] == "3"
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
