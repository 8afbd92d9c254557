"""Read-only queries on the matching tables, for the validation app and others."""

from __future__ import annotations

from collections import defaultdict

from matching.models import Candidate, MatchRun


def latest_run() -> MatchRun | None:
    """The newest finished match run, or None."""
    return (
        MatchRun.objects.filter(status=MatchRun.Status.DONE).order_by("-created_at", "-id").first()
    )


def run_by_ref(ref: str | int, *, with_curve: bool = True) -> MatchRun:
    """A run by id, or the latest finished one for "latest". Raises MatchRun.DoesNotExist.
    ``with_curve=False`` leaves the PR curve unloaded (3 x n_queries numbers)."""
    if str(ref) == "latest":
        run = latest_run()
        if run is None:
            raise MatchRun.DoesNotExist("no finished match run")
        return run
    qs = MatchRun.objects.all() if with_curve else MatchRun.objects.defer("pr_curve")
    return qs.get(pk=int(ref))


def top1_by_query(run: MatchRun) -> dict[int, tuple[int, float]]:
    """query offer pk -> (top-1 candidate offer pk, similarity)."""
    rows = Candidate.objects.filter(run=run, rank=1).values_list(
        "query_offer_id", "candidate_offer_id", "similarity"
    )
    return {q: (c, s) for q, c, s in rows}


def top1_similarities(run: MatchRun) -> list[float]:
    """The top-1 similarity of every query of the run (in no particular order)."""
    return list(
        Candidate.objects.filter(run=run, rank=1).order_by().values_list("similarity", flat=True)
    )


def run_candidates(run: MatchRun, *, query_offer_ids=None) -> dict[int, list[Candidate]]:
    """query offer pk -> its candidates ordered by rank (candidate offers preloaded)."""
    qs = Candidate.objects.filter(run=run).select_related("candidate_offer", "query_offer")
    if query_offer_ids is not None:
        qs = qs.filter(query_offer_id__in=list(query_offer_ids))
    out: dict[int, list[Candidate]] = defaultdict(list)
    for cand in qs.order_by("query_offer_id", "rank"):
        out[cand.query_offer_id].append(cand)
    return dict(out)


def catalogue_is_synthetic() -> bool:
    """Whether the imported catalogue is the generated demo one (the UI says so)."""
    from demo.catalogue import DEMO_FOLDER_NAME
    from matching.models import ImportBatch

    return ImportBatch.objects.filter(source__endswith=DEMO_FOLDER_NAME).exists()


# --- matching engine reads (encode / train / match / benchmark) ------------------------------


def shops_by_names(names) -> list:
    """Shop rows for names (or Shop objects), in the given order; unknown names raise."""
    from matching.models import Shop

    names = [names] if isinstance(names, str | Shop) else list(names)
    wanted = [n.name if isinstance(n, Shop) else str(n) for n in names]
    found = {s.name: s for s in Shop.objects.filter(name__in=wanted)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise Shop.DoesNotExist(f"unknown shop(s): {', '.join(missing)}")
    return [found[n] for n in wanted]


def offers_for(*, shops=None, before=None, since=None):
    """Offers of these shops (all when None) created before `before` / on or after `since`.

    Ordered by primary key, so repeated calls give the same row order.
    """
    from matching.models import Offer

    qs = Offer.objects.all()
    if shops is not None:
        qs = qs.filter(shop__in=shops_by_names(shops))
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs.order_by("pk")


def latest_model():
    """The newest ready projection model, or None."""
    from matching.models import ProjectionModel

    return (
        ProjectionModel.objects.filter(status=ProjectionModel.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )


def model_by_ref(ref):
    """A projection model by id or "latest"; None for "raw"/None. Raises DoesNotExist."""
    from matching.models import ProjectionModel

    if ref is None or isinstance(ref, ProjectionModel):
        return ref
    if str(ref) == "raw":
        return None
    if str(ref) == "latest":
        model = latest_model()
        if model is None:
            raise ProjectionModel.DoesNotExist("no ready projection model")
        return model
    return ProjectionModel.objects.get(pk=int(ref))


def embedding_coverage() -> list[dict]:
    """Per encoder: how many offers have an embedding (for the admin and `encode`)."""
    from django.db.models import Count

    from matching.models import Encoder

    return list(
        Encoder.objects.annotate(n_offers=Count("embeddings"))
        .values("id", "kind", "spec", "weights_checksum", "dim", "n_offers")
        .order_by("id")
    )


# --- reads for the validation app (routing, review pages, export) -----------------------------
# (kept together at the end of the file; validation reads matching tables only through these)


class RunNotDone(Exception):
    """A match run that has not finished (running, failed, interrupted) cannot be routed,
    triaged or exported: its candidates may be partial."""


def check_run_done(run: MatchRun) -> None:
    """Raise RunNotDone (with a message for the user) unless the run finished successfully."""
    if run.status != MatchRun.Status.DONE:
        raise RunNotDone(
            f"Match run #{run.pk} is {run.status}, not done: its candidates may be incomplete, "
            "so it cannot be routed, triaged or exported. Wait until it is done, or run `match` "
            "again."
        )


def recent_runs(*, limit: int = 50) -> list[MatchRun]:
    """The newest match runs (any status), shops preloaded, without their PR curves (a run of
    90,000 queries carries a curve of 3 x 90,000 numbers: load it with run_by_ref)."""
    return list(
        MatchRun.objects.select_related("query_shop", "index_shop")
        .defer("pr_curve")
        .order_by("-created_at", "-id")[:limit]
    )


def offers_with_images(offer_ids) -> dict:
    """Offer pk -> Offer with its images prefetched (unknown pks are left out)."""
    from matching.models import Offer

    return Offer.objects.prefetch_related("images").in_bulk(list(offer_ids))


def candidate_similarity(*, run_id: int, query_offer_id: int, candidate_offer_id: int):
    """Similarity of one candidate of a query in a run, or None when it is not a candidate."""
    return (
        Candidate.objects.filter(
            run_id=run_id, query_offer_id=query_offer_id, candidate_offer_id=candidate_offer_id
        )
        .values_list("similarity", flat=True)
        .first()
    )
