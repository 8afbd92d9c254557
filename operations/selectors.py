"""Reads for the operations pages: the start forms' choices and checks, the jobs page (chains
plus the jobs other apps record on their own rows) and the admin home's "needs attention"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Count
from django.utils import timezone

from matching import selectors as matching_selectors
from matching.models import ImportBatch, MatchRun, Offer, ProjectionModel, Shop
from operations.models import PipelineJob
from validation.models import Export, ReviewRow, Routing

RECENT = 50
ATTENTION_WINDOW = dt.timedelta(days=7)
FAILED_JOB_STATES = ("failed", "interrupted")


# ------------------------------------------------------------------------- form choices


def shop_choices() -> list[tuple[str, str]]:
    shops = Shop.objects.annotate(n=Count("offers")).order_by("name")
    return [(s.name, f"{s.name} ({s.n} offers)") for s in shops]


def ready_model_choices() -> list[tuple[str, str]]:
    models = ProjectionModel.objects.filter(status=ProjectionModel.Status.READY)
    return [
        (str(m.pk), f"#{m.pk} {m.name or m.features} ({m.created_at:%Y-%m-%d %H:%M})")
        for m in models.order_by("-created_at", "-id")[:100]
    ]


def shops_without_images(names: list[str]) -> list[str]:
    with_images = set(
        Offer.objects.filter(shop__name__in=names, images__isnull=False)
        .values_list("shop__name", flat=True)
        .distinct()
    )
    return [n for n in names if n not in with_images]


def has_offers(*, shop: str, since: dt.date) -> bool:
    return Offer.objects.filter(shop__name=shop, created_at__gte=since).exists()


def has_labelled_offers(*, shops: list[str], before: dt.date | None) -> bool:
    qs = Offer.objects.filter(shop__name__in=shops, product_id__isnull=False).exclude(product_id="")
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    return qs.exists()


# ------------------------------------------------------------------------- jobs page


@dataclass
class JobRow:
    """One line of the jobs page, whatever recorded it."""

    kind: str  # "chain", "import", "export", "match", "train", "route"
    status: str
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    title: str = ""
    detail: str = ""
    error: str = ""
    job: PipelineJob | None = None
    run_id: int | None = None
    model_id: int | None = None
    export_id: int | None = None
    batch_id: int | None = None

    @property
    def elapsed(self) -> dt.timedelta | None:
        start = self.started_at or self.created_at
        if start is None:
            return None
        end = self.finished_at or (timezone.now() if self.status == "running" else None)
        return None if end is None else max(end - start, dt.timedelta(0))


def job_row(job: PipelineJob) -> JobRow:
    return JobRow(
        kind="chain",
        status=job.status,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        title=f"job #{job.pk}" + (f" by {job.created_by}" if job.created_by_id else ""),
        detail=next((s["detail"] for s in reversed(job.stages) if s.get("detail")), ""),
        error=job.error,
        job=job,
        run_id=job.run_id,
        model_id=job.model_id,
    )


def recent_jobs(*, limit: int = RECENT) -> list[JobRow]:
    """The newest jobs of every kind, newest first: chains started from the web, and the
    imports, exports, match runs, trainings and routings made outside a chain (commands, the
    triage page, the API of the queues), read from the rows that record them."""
    chains = list(PipelineJob.objects.select_related("run", "model", "created_by")[:limit])
    in_chain_runs = set(PipelineJob.objects.exclude(run=None).values_list("run_id", flat=True))
    in_chain_models = set(
        PipelineJob.objects.filter(kind=PipelineJob.Kind.TRAIN)
        .exclude(model=None)
        .values_list("model_id", flat=True)
    )
    rows = [job_row(j) for j in chains]
    for b in ImportBatch.objects.order_by("-started_at")[:limit]:
        rows.append(
            JobRow(
                kind="import",
                status=b.status,
                created_at=b.started_at,
                started_at=b.started_at,
                finished_at=b.finished_at,
                title=f"import #{b.pk} {Path(b.source).name or b.source}",
                detail=f"{b.n_imported} new, {b.n_updated} updated, {b.n_rejected} rejected",
                batch_id=b.pk,
            )
        )
    for e in Export.objects.select_related("run")[:limit]:
        rows.append(
            JobRow(
                kind="export",
                status=e.status,
                created_at=e.created_at,
                title=f"export #{e.pk} of run #{e.run_id}",
                detail=f"{e.n_rows} rows" if e.status == Export.Status.DONE else "",
                error=e.error,
                run_id=e.run_id,
                export_id=e.pk,
            )
        )
    for run in matching_selectors.recent_runs(limit=limit):
        if run.pk in in_chain_runs:
            continue
        rows.append(
            JobRow(
                kind="match",
                status=matching_selectors.run_state(run),
                created_at=run.created_at,
                title=str(run),
                detail=f"{run.n_queries} queries",
                error=run.error,
                run_id=run.pk,
                model_id=run.model_id,
            )
        )
    for m in ProjectionModel.objects.exclude(pk__in=in_chain_models)[:limit]:
        rows.append(
            JobRow(
                kind="train",
                status=m.status,
                created_at=m.created_at,
                title=str(m),
                detail=f"{m.n_train_offers} training offers",
                error=m.error,
                model_id=m.pk,
            )
        )
    for r in Routing.objects.exclude(run_id__in=in_chain_runs).order_by("-created_at")[:limit]:
        rows.append(
            JobRow(
                kind="route",
                status="done",
                created_at=r.created_at,
                title=f"routing of run #{r.run_id}",
                run_id=r.run_id,
            )
        )
    rows.sort(key=lambda row: row.created_at, reverse=True)
    return rows[:limit]


def job_for_run(run_id: int) -> PipelineJob | None:
    return PipelineJob.objects.filter(run_id=run_id).order_by("-created_at", "-id").first()


# ------------------------------------------------------------------------- admin home


def attention(*, now: dt.datetime | None = None) -> dict:
    """What an admin should look at: open review rows, recent failed jobs of every kind, and
    finished runs that were never routed."""
    since = (now or timezone.now()) - ATTENTION_WINDOW
    failed = [
        row
        for row in recent_jobs(limit=200)
        if row.status in FAILED_JOB_STATES and row.created_at >= since
    ]
    unrouted = list(
        MatchRun.objects.filter(status=MatchRun.Status.DONE)
        .exclude(pk__in=Routing.objects.values("run_id"))
        .select_related("query_shop", "index_shop")
        .defer("pr_curve")
        .order_by("-created_at", "-id")[:20]
    )
    open_rows = ReviewRow.objects.filter(
        kind=ReviewRow.Kind.REVIEW, status=ReviewRow.Status.OPEN
    ).count()
    active = PipelineJob.objects.filter(
        status__in=(PipelineJob.Status.QUEUED, PipelineJob.Status.RUNNING)
    ).count()
    return {
        "open_review_rows": open_rows,
        "failed_jobs": failed,
        "unrouted_runs": unrouted,
        "active_jobs": active,
    }
