"""Read-only queries on the matching tables, for the validation app and others."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import defaultdict

import numpy as np
from django.db import connection
from django.utils import timezone

from matching.models import Candidate, MatchRun

#: A run still "running" after this long on ANOTHER host (whose processes we cannot see) is
#: considered interrupted. On this host a run is interrupted as soon as its process is gone.
OTHER_HOST_STALE_AFTER = dt.timedelta(hours=12)


class RunNotDone(ValueError):
    """Routing, triage and export need a finished match run."""


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


def top1_similarity_array(run: MatchRun) -> np.ndarray:
    """The top-1 similarities of :func:`top1_similarities`, ascending, as a float64 array: the
    ORM's query, its rows fetched with a plain cursor (90,000 of them at the paper's scale: no
    per-row queryset machinery)."""
    qs = Candidate.objects.filter(run=run, rank=1).order_by().values_list("similarity")
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = [row[0] for row in cursor.fetchall()]
    return np.sort(np.asarray(values, dtype=np.float64))


def run_candidates(run: MatchRun, *, query_offer_ids=None) -> dict[int, list[Candidate]]:
    """query offer pk -> its candidates ordered by rank (candidate offers preloaded)."""
    qs = Candidate.objects.filter(run=run).select_related("candidate_offer", "query_offer")
    if query_offer_ids is not None:
        qs = qs.filter(query_offer_id__in=list(query_offer_ids))
    out: dict[int, list[Candidate]] = defaultdict(list)
    for cand in qs.order_by("query_offer_id", "rank"):
        out[cand.query_offer_id].append(cand)
    return dict(out)


def run_candidate_facts(run: MatchRun) -> list[tuple[int, str | None, int, str | None, float]]:
    """(query offer pk, its product id, candidate offer pk, its product id, similarity) of
    every candidate of a run, by query offer then rank: plain tuples, one query (no model
    objects), for reading a whole run at the paper's scale."""
    return list(
        Candidate.objects.filter(run=run)
        .order_by("query_offer_id", "rank")
        .values_list(
            "query_offer_id",
            "query_offer__product_id",
            "candidate_offer_id",
            "candidate_offer__product_id",
            "similarity",
        )
    )


def catalogue_is_synthetic() -> bool:
    """Whether any shop holds generated data (Shop.synthetic; the UI labels it)."""
    from matching.models import Shop

    return Shop.objects.filter(synthetic=True).exists()


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


# --- run liveness (stale-run rule) -------------------------------------------------------------


def this_host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def run_is_interrupted(run: MatchRun, *, now: dt.datetime | None = None) -> bool:
    """A "running" run whose process is gone: on this host its pid no longer exists; on
    another host (or with no host recorded) it started more than OTHER_HOST_STALE_AFTER ago."""
    if run.status != MatchRun.Status.RUNNING:
        return False
    if run.worker_host and run.worker_host == this_host() and run.worker_pid:
        return not _pid_alive(run.worker_pid)
    now = now or timezone.now()
    return run.created_at is not None and now - run.created_at > OTHER_HOST_STALE_AFTER


def interrupted_runs(*, now: dt.datetime | None = None) -> list[MatchRun]:
    """Every run left "running" by a process that is gone (see :func:`run_is_interrupted`)."""
    running = MatchRun.objects.filter(status=MatchRun.Status.RUNNING)
    return [run for run in running if run_is_interrupted(run, now=now)]


def run_state(run: MatchRun) -> str:
    """The status to show: "interrupted" for a run whose process is gone, else its status."""
    return "interrupted" if run_is_interrupted(run) else run.status


def run_is_done(run: MatchRun) -> bool:
    """Whether a run finished: its candidates and metrics are complete (read fresh)."""
    return MatchRun.objects.filter(pk=run.pk, status=MatchRun.Status.DONE).exists()


def check_run_done(run: MatchRun) -> MatchRun:
    """``run`` if it is done; otherwise RunNotDone saying why (running, interrupted, failed)."""
    if run_is_done(run):
        return run
    run.refresh_from_db(fields=["status", "error", "worker_host", "worker_pid", "created_at"])
    state = run_state(run)
    if state == MatchRun.Status.RUNNING:
        why = "it is still running: wait until it is done"
    elif state == "interrupted":
        why = "it was interrupted (its process is gone): start a new match run"
    else:
        why = f"it failed ({run.error or 'no error recorded'}): start a new match run"
    raise RunNotDone(
        f"Match run #{run.pk} is {state}, not done: its candidates may be incomplete, so it "
        f"cannot be routed, triaged or exported; {why}"
    )


# --- reads for the validation app (routing, review pages, export) -----------------------------
# (kept together at the end of the file; validation reads matching tables only through these)


def recent_runs(*, limit: int = 50) -> list[MatchRun]:
    """The newest match runs (any status), shops preloaded, without their PR curves (a run of
    90,000 queries carries a curve of 3 x 90,000 numbers: load it with run_by_ref)."""
    return list(
        MatchRun.objects.select_related("query_shop", "index_shop", "model")
        .defer("pr_curve", "model__history", "model__calibration", "model__numeric_scaler")
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


# --- ground truth kept outside the catalogue (validation's --truth files) --------------------


def existing_shop_names(names) -> set[str]:
    """The names among ``names`` that are shops."""
    from matching.models import Shop

    return set(Shop.objects.filter(name__in=set(names)).values_list("name", flat=True))


def offer_pks_by_key(keys, *, chunk: int = 500) -> dict[tuple[str, str], int]:
    """(shop name, offer id) -> offer pk for the keys that exist (unknown keys are left out)."""
    from matching.models import Offer

    by_shop: dict[str, list[str]] = {}
    for shop, offer_id in keys:
        by_shop.setdefault(shop, []).append(offer_id)
    out: dict[tuple[str, str], int] = {}
    for shop, ids in by_shop.items():
        for i in range(0, len(ids), chunk):
            for pk, offer_id in Offer.objects.filter(
                shop__name=shop, offer_id__in=ids[i : i + chunk]
            ).values_list("pk", "offer_id"):
                out[(shop, offer_id)] = pk
    return out


def product_ids_of(offer_pks, *, chunk: int = 500) -> dict[int, str | None]:
    """Offer pk -> the catalogue's product id (None: unknown)."""
    from matching.models import Offer

    pks = list(offer_pks)
    out: dict[int, str | None] = {}
    for i in range(0, len(pks), chunk):
        out.update(Offer.objects.filter(pk__in=pks[i : i + chunk]).values_list("pk", "product_id"))
    return out
