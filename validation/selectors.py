"""Reads of the human side: routing previews, review page data, feedback, quality, export rows."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import MatchRun, Offer
from validation import feedback_rules, quality, routing
from validation.export import ExportRow
from validation.models import (
    Decision,
    Judgement,
    ReviewLease,
    ReviewRow,
    ReviewSettings,
    ReviewSkip,
    Routing,
)

# LR+ used for the predicted P_hitl before any validator has been measured (paper, Table 5, v2).
PAPER_LR_PLUS = 38.0


def current_routing(*, run: MatchRun) -> Routing | None:
    return Routing.objects.filter(run=run, is_current=True).first()


def measured_lr_plus(*, run: MatchRun | None = None) -> tuple[float, str]:
    """LR+ of aggregated decisions on gold rows (this run, else all runs), else the paper's."""
    for qs, source in (
        (ReviewRow.objects.filter(run=run) if run else None, "gold rows of this run"),
        (ReviewRow.objects.all(), "gold rows of all runs"),
    ):
        if qs is None:
            continue
        codes = _row_codes(qs.filter(kind=ReviewRow.Kind.GOLD))
        rates = quality.confusion(codes)
        if rates.tp + rates.fn > 0 and rates.fp + rates.tn > 0 and not math.isnan(rates.lr_plus):
            return rates.lr_plus, source
    return PAPER_LR_PLUS, "paper (no gold rows judged yet)"


def routing_preview(
    *,
    run: MatchRun,
    accept: float | None,
    review: float | None,
    target_precision: float = routing.DEFAULT_TARGET_PRECISION,
) -> dict:
    """Thresholds (given or suggested), bands with counts and expected precision/recall, and the
    predicted P_hitl of the review band. Writes nothing."""
    curve = routing.PRCurve.from_json(run.pr_curve)
    sims = [s for _, s in matching_selectors.top1_by_query(run).values()]
    th = routing.resolve_thresholds(
        curve=curve,
        similarities=sims,
        accept=accept,
        review=review,
        target_precision=target_precision,
    )
    counts = routing.split_bands(sims, accept=th.accept, review=th.review)
    table = routing.band_table(curve=curve, counts=counts, accept=th.accept, review=th.review)
    lr, lr_source = measured_lr_plus(run=run)
    review_band = next(b for b in table if b["band"] == routing.REVIEW)
    p_model = review_band["precision"]
    p_hitl = quality.p_hitl(p_model, lr) if p_model is not None else None
    return {
        "accept": th.accept,
        "review": th.review if math.isfinite(th.review) else -1.0,
        "suggested": th.suggested,
        "reason": th.reason,
        "target_precision": target_precision,
        "bands": table,
        "n_queries": len(sims),
        "p_model": p_model,
        "lr_plus": lr,
        "lr_plus_source": lr_source,
        "p_hitl": p_hitl,
        "curve": curve,
    }


# --------------------------------------------------------------------------- review page


def _offer_view(offer: Offer, *, show_extras: bool) -> dict:
    images = []
    for img in offer.images.all():
        f = img.preprocessed if img.preprocessed else img.original
        big = img.original if img.original else img.preprocessed
        if f:
            images.append({"url": f.url, "zoom_url": big.url})
    view = {"brand": offer.brand, "title": offer.title, "images": images}
    if show_extras:
        view["price"] = f"{offer.price} {offer.currency}".strip() if offer.price is not None else ""
        view["sizes"] = ", ".join(str(s) for s in offer.sizes or [])
        view["category"] = offer.category
    return view


def review_page(*, lease: ReviewLease, validator: AbstractBaseUser) -> dict:
    """What the review page shows: no ids, ranks, scores or gold flags; candidates shuffled."""
    from validation.services import slot_order_for

    cfg = ReviewSettings.load()
    row = lease.row
    ids = list(row.candidate_ids)
    offers = Offer.objects.prefetch_related("images").in_bulk([row.query_offer_id, *ids])
    order = slot_order_for(row=row, validator_id=validator.pk)
    return {
        "lease_id": lease.pk,
        "query": _offer_view(offers[row.query_offer_id], show_extras=cfg.show_price_colour_sizes),
        "slots": [
            {"key": slot, **_offer_view(offers[ids[i]], show_extras=cfg.show_price_colour_sizes)}
            for slot, i in enumerate(order, start=1)
        ],
        "show_extras": cfg.show_price_colour_sizes,
        "expires_at": lease.expires_at,
    }


def validator_counters(*, validator: AbstractBaseUser) -> dict:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Judgement.objects.filter(validator=validator, undone_at__isnull=True)
    return {
        "today": mine.filter(created_at__gte=start).count(),
        "total": mine.count(),
        "open_rows": ReviewRow.objects.filter(status=ReviewRow.Status.OPEN).count(),
    }


def answer_shown_exists(*, validator: AbstractBaseUser) -> Exists:
    """For ReviewRow querysets: has the answer to this row, or to a related row
    (feedback_rules.rows_related: they share the query offer or the true match), been shown to
    the validator on their feedback page?"""
    shown = Judgement.objects.filter(validator=validator, revealed_at__isnull=False)
    return Exists(
        shown.filter(
            Q(row__query_offer_id=OuterRef("query_offer_id"))
            | Q(row__truth_offer_id=OuterRef("query_offer_id"))
            | Q(row__query_offer_id=OuterRef("truth_offer_id"))
            | Q(row__truth_offer_id=OuterRef("truth_offer_id"))
        )
    )


def answer_shown(*, validator: AbstractBaseUser, row: ReviewRow) -> bool:
    return (
        ReviewRow.objects.filter(pk=row.pk)
        .filter(answer_shown_exists(validator=validator))
        .exists()
    )


def can_undo(*, validator: AbstractBaseUser) -> bool:
    cfg = ReviewSettings.load()
    last = (
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .select_related("row")
        .order_by("-created_at", "-id")
        .first()
    )
    return (
        last is not None
        and feedback_rules.may_undo(
            judged_at=last.created_at,
            answer_shown=answer_shown(validator=validator, row=last.row),
            now=timezone.now(),
            undo_seconds=cfg.undo_seconds,
        ).allowed
    )


def _rows_for_viewer(
    *, validator: AbstractBaseUser, judgements: list[Judgement]
) -> tuple[dict[int, feedback_rules.RowForViewer], dict[int, set[int]]]:
    """Every row related to one of the validator's judgements (in any run), as the validator
    can act on it; and offer id -> the pks of those rows whose answer is about that offer."""
    mine = Judgement.objects.filter(validator=validator, undone_at__isnull=True)
    related = ReviewRow.objects.filter(
        Q(query_offer_id__in=mine.values("row__query_offer_id"))
        | Q(query_offer_id__in=mine.values("row__truth_offer_id"))
        | Q(truth_offer_id__in=mine.values("row__query_offer_id"))
        | Q(truth_offer_id__in=mine.values("row__truth_offer_id"))
    )
    last = dict(
        Judgement.objects.filter(row__in=related, undone_at__isnull=True)
        .values_list("row_id")
        .annotate(last=Max("created_at"))
    )
    skipped = set(
        ReviewSkip.objects.filter(validator=validator, row__in=related).values_list(
            "row_id", flat=True
        )
    )
    by_row = {j.row_id: j for j in judgements}
    shown_offers: set[int] = set()
    for j in judgements:
        if j.revealed_at is not None:
            shown_offers |= feedback_rules.answer_offers(
                query_offer_id=j.row.query_offer_id, truth_offer_id=j.row.truth_offer_id
            )
    states: dict[int, feedback_rules.RowForViewer] = {}
    by_offer: dict[int, set[int]] = defaultdict(set)
    for pk, status, query_id, truth_id in related.values_list(
        "pk", "status", "query_offer_id", "truth_offer_id"
    ):
        offers = feedback_rules.answer_offers(query_offer_id=query_id, truth_offer_id=truth_id)
        for o in offers:
            by_offer[o].add(pk)
        j = by_row.get(pk)
        states[pk] = feedback_rules.RowForViewer(
            status=status,
            viewer_judged_at=j.created_at if j else None,
            viewer_answer_shown=bool(offers & shown_offers),
            viewer_skipped=pk in skipped,
            last_judged_at=last.get(pk),
        )
    return states, by_offer


def feedback_mistakes(
    *, validator: AbstractBaseUser, limit: int = 50, now: datetime | None = None
) -> dict:
    """The validator's own judgements on rows with a known answer where they were wrong.

    Only judgements they can no longer change count (feedback_rules.may_show): the others are
    "pending" (counted over all their judgements, known answer or not, so the count does not
    tell which rows are gold). ``revealed_ids``: the judgements whose answers this feedback
    shows (services.show_feedback records that).
    """
    cfg = ReviewSettings.load()
    now = now or timezone.now()
    js = list(
        Judgement.objects.filter(validator=validator, undone_at__isnull=True)
        .select_related("row")
        .order_by("-created_at", "-id")
    )
    states, by_offer = _rows_for_viewer(validator=validator, judgements=js)
    n = correct = pending = 0
    mistakes = []
    revealed_ids = []
    for j in js:
        offers = feedback_rules.answer_offers(
            query_offer_id=j.row.query_offer_id, truth_offer_id=j.row.truth_offer_id
        )
        related = set().union(*(by_offer[o] for o in offers)) - {j.row_id}
        if j.row_id not in states or not feedback_rules.may_show(
            own=states[j.row_id],
            related=[states[pk] for pk in related],
            now=now,
            undo_seconds=cfg.undo_seconds,
        ):
            pending += 1
            continue
        if j.row.truth == ReviewRow.Truth.UNKNOWN:
            continue
        n += 1
        revealed_ids.append(j.pk)
        answer = str(j.row.truth_offer_id) if j.row.truth == ReviewRow.Truth.MATCH else "none"
        if j.choice == answer:
            correct += 1
        elif len(mistakes) < limit:
            mistakes.append(j)
    offer_ids = {j.row.query_offer_id for j in mistakes}
    for j in mistakes:
        offer_ids.update(
            int(x) for x in (j.choice, j.row.truth_offer_id) if x not in (None, "none")
        )
    offers = Offer.objects.prefetch_related("images").in_bulk(offer_ids)

    def view(pk):
        return _offer_view(offers[int(pk)], show_extras=False) if pk not in (None, "none") else None

    items = [
        {
            "when": j.created_at,
            "query": view(j.row.query_offer_id),
            "chosen": view(j.choice),
            "correct": view(j.row.truth_offer_id),
            "kind": "You chose a candidate, but none matches"
            if j.row.truth == ReviewRow.Truth.NONE
            else (
                "You said none matches" if j.choice == "none" else "You chose the wrong candidate"
            ),
        }
        for j in mistakes
    ]
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "mistakes": items,
        "pending": pending,
        "revealed_ids": revealed_ids,
        "undo_seconds": cfg.undo_seconds,
    }


# --------------------------------------------------------------------------- quality


def _answer(row: ReviewRow) -> str:
    return str(row.truth_offer_id) if row.truth == ReviewRow.Truth.MATCH else "none"


def _code(*, row: ReviewRow, choice: str) -> int:
    return quality.outcome_code(
        truth_is_match=row.truth == ReviewRow.Truth.MATCH,
        picked_true=choice == _answer(row),
        picked_any=choice not in ("", "none"),
    )


def _row_codes(qs) -> list[int]:
    return [
        _code(row=r, choice=r.decision)
        for r in qs.filter(status=ReviewRow.Status.DECIDED).exclude(truth=ReviewRow.Truth.UNKNOWN)
    ]


def _rates_dict(codes: list[int], *, n_boot: int, seed: int) -> dict:
    rates = quality.confusion(codes).as_dict()
    rates["std"] = quality.bootstrap_rates(codes, n_boot=n_boot, seed=seed)
    return rates


def quality_report(*, run: MatchRun, n_boot: int = 1000, seed: int = 0) -> dict:
    """Confusion matrices, per-validator accuracy, Fleiss' kappa, predicted and observed
    precision."""
    rows = list(ReviewRow.objects.filter(run=run).exclude(truth=ReviewRow.Truth.UNKNOWN))
    decided = [r for r in rows if r.status == ReviewRow.Status.DECIDED]
    all_codes = [_code(row=r, choice=r.decision) for r in decided]
    gold_codes = [_code(row=r, choice=r.decision) for r in decided if r.kind == ReviewRow.Kind.GOLD]
    wrong_pick = sum(
        1
        for r in decided
        if r.truth == ReviewRow.Truth.MATCH and r.decision not in ("none", _answer(r))
    )
    # judgements (single validators)
    js = list(
        Judgement.objects.filter(row__run=run, undone_at__isnull=True)
        .select_related("row", "validator")
        .order_by("row_id")
    )
    per_validator: dict[str, list[int]] = defaultdict(list)
    judgement_codes = []
    seconds = []
    for j in js:
        seconds.append(j.seconds_spent)
        if j.row.truth == ReviewRow.Truth.UNKNOWN:
            continue
        c = _code(row=j.row, choice=j.choice)
        judgement_codes.append(c)
        per_validator[j.validator.get_username()].append(
            (c, j.choice == _answer(j.row), j.row.kind == ReviewRow.Kind.GOLD)
        )
    validators = []
    for name, items in sorted(per_validator.items()):
        codes = [c for c, _, _ in items]
        gold = [ok for _, ok, g in items if g]
        r = quality.confusion(codes)
        validators.append(
            {
                "name": name,
                "n": len(items),
                "accuracy": sum(ok for _, ok, _ in items) / len(items),
                "n_gold": len(gold),
                "gold_accuracy": sum(gold) / len(gold) if gold else None,
                "tpr": r.tpr,
                "fpr": r.fpr,
            }
        )
    # agreement: categories = candidate rank (0..k-1) or none (k)
    k = max((len(r.candidate_ids) for r in rows), default=3)
    by_row: dict[int, Counter] = defaultdict(Counter)
    for j in Judgement.objects.filter(row__run=run, undone_at__isnull=True).select_related("row"):
        ids = [str(x) for x in j.row.candidate_ids]
        by_row[j.row_id][ids.index(j.choice) if j.choice in ids else k] += 1
    table = (
        np.array([[c.get(i, 0) for i in range(k + 1)] for c in by_row.values()])
        if by_row
        else np.zeros((0, k + 1))
    )
    kappa = quality.fleiss_kappa(table)

    # predicted vs observed precision of the review band
    review_rows = [r for r in rows if r.kind == ReviewRow.Kind.REVIEW]
    lr_codes, lr_source = (
        (gold_codes, "gold rows") if gold_codes else (all_codes, "all rows with ground truth")
    )
    band_positive = [r.truth == ReviewRow.Truth.MATCH for r in review_rows]
    p_model = float(np.mean(band_positive)) if band_positive else None
    p_model_source = "review rows with ground truth"
    if p_model is None:
        rt = current_routing(run=run)
        if rt is not None:
            band = next((b for b in rt.summary.get("bands", []) if b["band"] == "review"), None)
            p_model = band and band.get("precision")
            p_model_source = "top-1 precision of the review band on the PR curve"
    predicted, predicted_std = quality.bootstrap_p_hitl(
        gold_codes=lr_codes,
        band_positive=band_positive or None,
        p_model=p_model,
        n_boot=n_boot,
        seed=seed,
    )
    accepted = [
        r.decision == _answer(r)
        for r in review_rows
        if r.status == ReviewRow.Status.DECIDED and r.decision not in ("", "none")
    ]
    observed, observed_std = quality.precision_with_std(accepted, n_boot=n_boot, seed=seed)
    combined = math.sqrt((predicted_std or 0) ** 2 + (observed_std or 0) ** 2)
    agree = (
        None
        if any(math.isnan(x) for x in (predicted, observed, combined))
        else abs(predicted - observed) <= 2 * combined
    )
    status_counts = dict(
        ReviewRow.objects.filter(run=run).values_list("status").annotate(n=Count("id"))
    )
    return {
        "run": run,
        "rows": {
            "with_truth": len(rows),
            "decided_with_truth": len(decided),
            "gold_decided": len(gold_codes),
            "by_status": status_counts,
        },
        "aggregated": _rates_dict(all_codes, n_boot=n_boot, seed=seed),
        "aggregated_gold": _rates_dict(gold_codes, n_boot=n_boot, seed=seed),
        "judgements": _rates_dict(judgement_codes, n_boot=n_boot, seed=seed),
        "wrong_pick": wrong_pick,
        "validators": validators,
        "fleiss_kappa": kappa,
        "median_seconds": float(np.median(seconds)) if seconds else None,
        "lr_plus_source": lr_source,
        "p_model": p_model,
        "p_model_source": p_model_source,
        "predicted_precision": predicted,
        "predicted_std": predicted_std,
        "observed_precision": observed,
        "observed_std": observed_std,
        "n_accepted_with_truth": len(accepted),
        "agree_within_2sd": agree,
    }


# --------------------------------------------------------------------------- runs and export


def runs_overview() -> list[dict]:
    runs = list(
        MatchRun.objects.select_related("query_shop", "index_shop").order_by("-created_at", "-id")[
            :50
        ]
    )
    counts: dict[int, dict] = defaultdict(dict)
    for run_id, status, n in (
        ReviewRow.objects.filter(run__in=runs, kind=ReviewRow.Kind.REVIEW)
        .values_list("run_id", "status")
        .annotate(n=Count("id"))
    ):
        counts[run_id][status] = n
    accepted = dict(
        Decision.objects.filter(run__in=runs, matched_offer__isnull=False)
        .values_list("run_id")
        .annotate(n=Count("id"))
    )
    routings = {r.run_id: r for r in Routing.objects.filter(run__in=runs, is_current=True)}
    return [
        {
            "run": run,
            "routing": routings.get(run.pk),
            "open": counts[run.pk].get("open", 0),
            "decided": counts[run.pk].get("decided", 0),
            "accepted": accepted.get(run.pk, 0),
        }
        for run in runs
    ]


def accepted_matches(*, run: MatchRun) -> list[ExportRow]:
    qs = (
        Decision.objects.filter(run=run, matched_offer__isnull=False)
        .select_related("query_offer__shop", "matched_offer__shop", "row")
        .order_by("query_offer_id")
    )
    return [
        ExportRow(
            query_pk=d.query_offer_id,
            matched_pk=d.matched_offer_id,
            query_offer_id=d.query_offer.offer_id,
            query_shop=d.query_offer.shop.name,
            matched_offer_id=d.matched_offer.offer_id,
            matched_shop=d.matched_offer.shop.name,
            similarity=d.similarity,
            decision=d.source,
            votes_for=d.votes_for,
            votes_total=d.votes_total,
            decided_at=d.decided_at.isoformat(),
        )
        for d in qs
    ]


def row_progress(*, run: MatchRun) -> dict:
    qs = ReviewRow.objects.filter(run=run)
    return qs.aggregate(
        open=Count("id", filter=Q(status=ReviewRow.Status.OPEN)),
        decided=Count("id", filter=Q(status=ReviewRow.Status.DECIDED)),
        closed=Count("id", filter=Q(status=ReviewRow.Status.CLOSED)),
    )
