"""A run's active judgements counted in the database (validation/vote_counts.py: VoteCounts),
for the quality report: one GROUP BY over the judgements joined to their rows, and the median
time spent. At the paper's scale (~100,000 judgements) loading them one by one and counting in
Python took seconds; the counts are a few hundred tuples.

Raw SQL (PostgreSQL and SQLite) because the ORM cannot group over a window function: the
first two judgements of each row (in recorded order: created_at, then id) come from
ROW_NUMBER and LEAD over the row's judgements.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection

from matching.models import MatchRun
from validation import quality, vote_counts
from validation.models import Judgement, ReviewRow

# a choice not among the first `positions` candidates of a longer list (counted again with
# every position; see vote_counts_of)
_UNSURE = -2


def _sql(vendor: str) -> dict[str, str]:
    """The few SQL pieces that differ between PostgreSQL and SQLite (JSON1)."""
    if vendor == "postgresql":
        return {
            "item": "{c} ->> {i}",  # the candidate at position i, as text (str() of it)
            "length": "jsonb_array_length({c})",
            "text": "{x}::text",
            "apart": "OFFSET 0",  # an optimisation fence: the subquery is not flattened
        }
    return {
        "item": "CAST(json_extract({c}, '$[{i}]') AS TEXT)",
        "length": "json_array_length({c})",
        "text": "CAST({x} AS TEXT)",
        "apart": "",
    }


def _counts_sql(*, positions: int) -> str:
    """One statement: the run's active judgements joined to their rows, their order within the
    row (ROW_NUMBER, LEAD), counted by validator, row truth, kind and status, whether the choice
    is the true offer, what kind of choice it is, and (for each row's first judgement) the
    candidate ranks of the row's first two judgements. Each row's first ``positions`` candidates
    are read once (in the row subquery), not once per judgement."""
    q = _sql(connection.vendor)
    j, r = Judgement._meta.db_table, ReviewRow._meta.db_table
    user = get_user_model()
    users, name = user._meta.db_table, user._meta.get_field(user.USERNAME_FIELD).column
    items = ", ".join(
        q["item"].format(c="candidate_ids", i=i) + f" AS c{i}" for i in range(positions)
    )
    steps = " ".join(f"WHEN r.c{i} THEN {i}" for i in range(positions))
    answer = "COALESCE(" + q["text"].format(x="r.truth_offer_id") + ", 'None')"
    length = q["length"].format(c="candidate_ids")
    apart = q["apart"]
    # each subquery kept apart computes its columns once per row
    # table and column names from the models, no input (S608)
    return f"""
        SELECT u.{name}, c.truth, c.kind, c.status, c.hit, c.choice_kind, c.first_rank,
               c.second_rank, c.n
        FROM (
            SELECT o.validator_id, o.truth, o.kind, o.status, o.hit, o.choice_kind,
                   CASE WHEN o.k = 1 AND o.next_rank IS NOT NULL THEN o.vote_rank END
                       AS first_rank,
                   CASE WHEN o.k = 1 THEN o.next_rank END AS second_rank,
                   COUNT(*) AS n
            FROM (
                SELECT v.*, ROW_NUMBER() OVER w AS k, LEAD(v.vote_rank) OVER w AS next_rank
                FROM (
                    SELECT j.row_id, j.created_at, j.id, j.validator_id, r.truth, r.kind,
                           r.status,
                           j.choice = {answer} AS hit,
                           CASE j.choice WHEN 'none' THEN 1 WHEN '' THEN 2 ELSE 0 END
                               AS choice_kind,
                           CASE j.choice {steps}
                               ELSE CASE WHEN r.long_list AND j.choice NOT IN ('', 'none')
                                   THEN {_UNSURE}
                               ELSE {vote_counts.NO_RANK} END END AS vote_rank
                    FROM {j} j INNER JOIN (
                        SELECT id, truth, kind, status, truth_offer_id,
                               {length} > {positions} AS long_list, {items}
                        FROM {r} WHERE run_id = %(run)s {apart}
                    ) r ON r.id = j.row_id
                    WHERE j.undone_at IS NULL
                    {apart}
                ) v
                WINDOW w AS (PARTITION BY v.row_id ORDER BY v.created_at, v.id)
            ) o
            GROUP BY o.validator_id, o.truth, o.kind, o.status, o.hit, o.choice_kind,
                     first_rank, second_rank
        ) c
        INNER JOIN {users} u ON u.id = c.validator_id
    """  # noqa: S608


def _max_candidates_sql() -> str:
    length = _sql(connection.vendor)["length"].format(c="candidate_ids")
    table = ReviewRow._meta.db_table
    return f"SELECT MAX({length}) FROM {table} WHERE run_id = %(run)s"  # noqa: S608 - as above


def _middle_seconds_sql(*, offset: int) -> str:
    j, r = Judgement._meta.db_table, ReviewRow._meta.db_table
    return f"""
        SELECT j.seconds_spent FROM {j} j INNER JOIN {r} r ON r.id = j.row_id
        WHERE r.run_id = %(run)s AND j.undone_at IS NULL
        ORDER BY j.seconds_spent LIMIT 2 OFFSET {int(offset)}
    """  # noqa: S608


def _outcome(*, truth: str, hit: bool, choice_kind: int) -> tuple[int, bool]:
    """quality.code_of and whether the choice is quality.answer_of, from the statement's
    columns: ``hit`` (the choice is str(truth_offer_id), "None" without one) and
    ``choice_kind`` (0: a candidate, 1: "none", 2: "")."""
    if truth == quality.TRUTH_MATCH:
        return (quality.TP if hit else quality.FN), hit
    return (quality.FP if choice_kind == 0 else quality.TN), choice_kind == 1


def vote_counts_of(*, run: MatchRun) -> vote_counts.VoteCounts:
    """The run's active judgements counted (vote_counts.VoteCounts), equal to
    vote_counts.of_facts of the run's rows and judgements. Candidate ranks are compared
    position by position up to the run's k; if a row has more candidates and a choice is not
    among its first k, the judgements are counted again with every position (one more
    statement for the longest list)."""
    params = {"run": run.pk}
    positions = max(1, run.k or 1)
    with connection.cursor() as cur:
        cur.execute(_counts_sql(positions=positions), params)
        rows = cur.fetchall()
        if any(_UNSURE in (first, second) for *_, first, second, _ in rows):
            cur.execute(_max_candidates_sql(), params)
            (positions,) = cur.fetchone()
            cur.execute(_counts_sql(positions=positions), params)
            rows = cur.fetchall()
        by_validator: dict[tuple[str, int, bool, bool], int] = {}
        first_two: dict[tuple[int, int], int] = {}
        on_decided = total = 0
        for name, truth, kind, status, hit, choice_kind, first, second, n in rows:
            total += n
            on_decided += n if status == quality.DECIDED else 0
            if truth != quality.TRUTH_UNKNOWN:
                code, right = _outcome(truth=truth, hit=bool(hit), choice_kind=choice_kind)
                key = (name, code, right, kind == quality.GOLD_ROW)
                by_validator[key] = by_validator.get(key, 0) + n
            if first is not None:
                pair = (int(first), int(second))
                first_two[pair] = first_two.get(pair, 0) + n
        middle = None
        if total:
            # the two middle values (the middle one and the next when their number is odd)
            cur.execute(_middle_seconds_sql(offset=(total - 1) // 2), params)
            values = [float(s) for (s,) in cur.fetchall()]
            middle = vote_counts.median_of_middles(
                values[0], values[1] if total % 2 == 0 else values[0]
            )
    return vote_counts.VoteCounts(
        by_validator=by_validator, first_two=first_two, on_decided=on_decided, median_seconds=middle
    )
