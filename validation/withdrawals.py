"""Run decisions that validators overruled later: pure rule (plain Python, no ORM).

An automatic Decision of a run (query q -> offer X) stands on an automatic acceptance of the pair
(matching's PairVerdict): the run's own one when routing made it, or the acceptance reused from
an earlier run. When validators later accept X with another offer of q's shop, matching withdraws
that acceptance (it is *superseded* by the human verdict, matching/verdicts.py) and q leaves X's
product; or validators reject the pair X-q itself (a decided conflict row that turns down an
automatic acceptance held back as a conflict). The decision is then *withdrawn* (kept for the
record with a reason, left out of the run's export and the matches API, which so agree with the
products) while every acceptance it can stand on is superseded; it stands again once one is not
(an undo of the human verdict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Acceptance:
    """An automatic acceptance of the decision's pair (matching.loop_selectors.AutoAcceptance)."""

    run_id: int | None
    superseded: bool
    overruling_pair: tuple[str, str] | None = None  # the human pair (external offer ids)
    overruling_row_id: int | None = None
    overruling_rejected: bool = False  # the human verdict rejected this very pair


def withdrawal_reason(*, run_id: int, acceptances: Sequence[Acceptance]) -> str | None:
    """Why the automatic decision of run ``run_id`` on a pair is withdrawn, or None if it stands.

    It stands on the run's own acceptances of the pair if there are any (routing made it), else
    on the pair's acceptances of other runs (reused); it is withdrawn when there are some and all
    of them are superseded. A pair without any automatic acceptance keeps its decision (nothing
    says otherwise)."""
    own = [a for a in acceptances if a.run_id == run_id]
    basis = own or list(acceptances)
    if not basis or not all(a.superseded for a in basis):
        return None
    by = next((a for a in basis if a.overruling_pair is not None), None)
    if by is None:
        return "validators overruled this automatic match"
    row = f" (review row #{by.overruling_row_id})" if by.overruling_row_id is not None else ""
    if by.overruling_rejected:
        return f"validators rejected this automatic match{row}: withdrawn"
    y, x = by.overruling_pair
    return (
        f"validators matched offers {y} and {x}{row}, which this automatic match contradicts "
        "(a product holds one offer per shop): withdrawn"
    )
