"""services/routing.py: the plan's row updates written group by group (one UPDATE per
(kind, status, reroute) and chunk) leave the rows as the former per-row bulk_update did."""

from __future__ import annotations

import itertools

from validation import routing_plan
from validation.models import ReviewRow, Routing
from validation.services import routing as routing_services
from validation.services.routing import route_run


def test_grouped_row_updates_write_each_rows_own_values(run):
    route_run(run=run, accept=0.8, review=0.0)
    rows = list(ReviewRow.objects.filter(run=run).order_by("pk"))
    assert len(rows) > 10
    old_rt = Routing.objects.get(run=run, is_current=True)
    new_rt = Routing.objects.create(run=run, accept=0.9, review=0.1)
    values = itertools.cycle(
        [
            (ReviewRow.Kind.REVIEW, ReviewRow.Status.OPEN, True),
            (ReviewRow.Kind.GOLD, ReviewRow.Status.CLOSED, False),
            (ReviewRow.Kind.REVIEW, ReviewRow.Status.CLOSED, True),
            (ReviewRow.Kind.REVIEW, ReviewRow.Status.OPEN, False),
        ]
    )
    updates = [
        routing_plan.RowUpdate(pk=r.pk, kind=k, status=s, reroute=rr)
        for r, (k, s, rr) in zip(rows[:-3], values, strict=False)
    ]
    untouched = {r.pk: (r.kind, r.status, r.routing_id) for r in rows[-3:]}
    # rows from before, as the former code left them: kind, status, routing (new if rerouted)
    want = {u.pk: (u.kind, u.status, new_rt.pk if u.reroute else old_rt.pk) for u in updates}
    n = routing_services._apply_row_updates(updates, rt=new_rt)
    assert n == len(updates)
    got = {r.pk: (r.kind, r.status, r.routing_id) for r in ReviewRow.objects.filter(run=run)}
    assert {pk: got[pk] for pk in want} == want
    assert {pk: got[pk] for pk in untouched} == untouched


def test_grouped_row_updates_chunk_large_groups(run, monkeypatch):
    route_run(run=run, accept=0.8, review=0.0)
    pks = list(ReviewRow.objects.filter(run=run).values_list("pk", flat=True))
    rt = Routing.objects.create(run=run, accept=0.9, review=0.1)
    calls = []
    real_filter = ReviewRow.objects.filter

    def counting_filter(*args, **kwargs):
        calls.append(len(kwargs.get("pk__in", ())))
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(routing_services, "UPDATE_CHUNK", {ReviewRow.objects.db: 3})
    monkeypatch.setattr(routing_services.connection, "vendor", ReviewRow.objects.db)
    monkeypatch.setattr(ReviewRow.objects, "filter", counting_filter)
    updates = [
        routing_plan.RowUpdate(pk=pk, kind="review", status="closed", reroute=True) for pk in pks
    ]
    assert routing_services._apply_row_updates(updates, rt=rt) == len(pks)
    assert max(calls) <= 3 and sum(calls) == len(pks)
    assert set(real_filter(pk__in=pks).values_list("status", "routing_id")) == {("closed", rt.pk)}
