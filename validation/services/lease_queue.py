"""The two statements that hand out a review row, as plain SQL (validation.services.leasing).

They run on every review page, so they are written once per shape (vendor, ordering, run or
not, row left out or not) and kept: building them through the ORM cost several milliseconds of
CPU per page (three subqueries, an annotation, locking), more than the database took to run
them. They say exactly what the ORM queries said before; ``tests/validation/test_review_cost.py``
checks the PostgreSQL plan (the partial index ``row_open_queue``) and the services' tests the
rules, on SQLite and PostgreSQL.

* :func:`pick_row_ids` picks and locks (``FOR UPDATE SKIP LOCKED`` where the database has it)
  a few open rows of one pool that the validator may take, in the policy's order: not judged or
  skipped by them, no answer shown to them about the row, room for one more judgement counting
  live leases.
* :func:`recheck_rows` reads the locked rows again with fresh statements (the pick ran on an
  older snapshot): still open, not judged by the validator, room counting the others' live
  leases.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.db import connection

from validation.models import Judgement, ReviewLease, ReviewRow, ReviewSkip


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _order_sql(order_by: tuple[str, ...]) -> str:
    """("-n_judgements", "id") -> r."n_judgements" DESC, r."id" ASC"""
    parts = []
    for name in order_by:
        column = ReviewRow._meta.get_field(name.lstrip("-")).column
        parts.append(
            f"r.{connection.ops.quote_name(column)} {'DESC' if name.startswith('-') else 'ASC'}"
        )
    return ", ".join(parts)


@lru_cache(maxsize=64)
def _pick_sql(
    vendor: str, order_by: tuple[str, ...], with_run: bool, with_exclude: bool, lock: bool
) -> str:
    row, judgement, skip, lease = (
        _table(m) for m in (ReviewRow, Judgement, ReviewSkip, ReviewLease)
    )
    return " ".join(
        [
            f"SELECT r.id FROM {row} r",  # noqa: S608 - table names from the models
            "WHERE r.status = %s AND r.kind = %s AND r.n_judgements < r.judgements_needed",
            "AND r.run_id = %s" if with_run else "",
            "AND r.id <> %s" if with_exclude else "",
            # not judged by this validator (active judgements)
            f"AND NOT EXISTS (SELECT 1 FROM {judgement} j WHERE j.row_id = r.id",  # noqa: S608 - table names from the models
            "AND j.validator_id = %s AND j.undone_at IS NULL)",
            # not skipped by them
            f"AND NOT EXISTS (SELECT 1 FROM {skip} s WHERE s.row_id = r.id",  # noqa: S608 - table names from the models
            "AND s.validator_id = %s)",
            # no answer shown to them about this row or a related one
            # (selectors.review.answer_shown_exists)
            f"AND NOT EXISTS (SELECT 1 FROM {judgement} sj INNER JOIN {row} sr",  # noqa: S608 - table names from the models
            "ON sj.row_id = sr.id WHERE sj.validator_id = %s AND sj.revealed_at IS NOT NULL",
            "AND (sr.query_offer_id = r.query_offer_id OR sr.truth_offer_id = r.query_offer_id",
            "OR sr.query_offer_id = r.truth_offer_id OR sr.truth_offer_id = r.truth_offer_id))",
            # room for one more judgement counting live leases
            f"AND (SELECT COUNT(*) FROM {lease} l WHERE l.row_id = r.id AND l.expires_at > %s)",  # noqa: S608 - table names from the models
            "< r.judgements_needed - r.n_judgements",
            f"ORDER BY {_order_sql(order_by)} LIMIT %s",
            "FOR UPDATE OF r SKIP LOCKED" if lock else "",
        ]
    )


def pick_row_ids(
    *,
    validator_id: int,
    kind: str,
    order_by: tuple[str, ...],
    now: datetime,
    window: int,
    run_id: int | None = None,
    exclude_row_id: int | None = None,
) -> list[int]:
    """Up to ``window`` open rows of pool ``kind`` the validator may take, in ``order_by``
    order, locked (rows others hold locked are skipped, not waited for). In a transaction."""
    features = connection.features
    sql = _pick_sql(
        connection.vendor,
        tuple(order_by),
        run_id is not None,
        exclude_row_id is not None,
        features.has_select_for_update_skip_locked and features.has_select_for_update_of,
    )
    params: list = [ReviewRow.Status.OPEN, kind]
    params += [run_id] if run_id is not None else []
    params += [exclude_row_id] if exclude_row_id is not None else []
    params += [validator_id, validator_id, validator_id]
    params += [connection.ops.adapt_datetimefield_value(now), window]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [pk for (pk,) in cur.fetchall()]


@lru_cache(maxsize=64)
def _recheck_sql(vendor: str, n: int) -> str:
    row, judgement, lease = (_table(m) for m in (ReviewRow, Judgement, ReviewLease))
    return " ".join(
        [
            f"SELECT r.* FROM {row} r WHERE r.id IN ({', '.join(['%s'] * n)})",  # noqa: S608 - table names from the models
            "AND r.status = %s",
            f"AND NOT EXISTS (SELECT 1 FROM {judgement} j WHERE j.row_id = r.id",  # noqa: S608 - table names from the models
            "AND j.validator_id = %s AND j.undone_at IS NULL)",
            "AND r.n_judgements < r.judgements_needed",
            f"- (SELECT COUNT(*) FROM {lease} l WHERE l.row_id = r.id AND l.expires_at > %s",  # noqa: S608 - table names from the models
            "AND l.validator_id <> %s)",
        ]
    )


def recheck_rows(*, row_ids: list[int], validator_id: int, now: datetime) -> dict[int, ReviewRow]:
    """The rows among ``row_ids`` that the validator may still take, read afresh: open, not
    judged by them, room for their judgement counting the other validators' live leases."""
    sql = _recheck_sql(connection.vendor, len(row_ids))
    params = [
        *row_ids,
        ReviewRow.Status.OPEN,
        validator_id,
        connection.ops.adapt_datetimefield_value(now),
        validator_id,
    ]
    return {r.pk: r for r in ReviewRow.objects.raw(sql, params)}
