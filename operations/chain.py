"""Job chains started from the web: "encode what is pending -> match -> route" and
"encode -> train". Each stage is one job on its queue (encoding on `gpu`, the others on
`default`; inline without REDIS_URL); a stage that finishes enqueues the next one.

What a stage leaves when it fails or is cancelled is what its service leaves: encoding stores
whole chunks only; training marks its model failed (no weights are marked ready); a match run
writes its candidates and "done" in one transaction; routing is one transaction. A cancel is
seen between stages and, within encoding and training, at their next progress report.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from core.queues import enqueue
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import ProjectionModel
from matching.services import encoding, training
from matching.services import matching as matching_service
from operations import services
from operations.models import PipelineJob
from validation.services import routing as routing_service

logger = logging.getLogger(__name__)

STAGE_JOB = "operations.jobs.run_stage"
Progress = Callable[[int, int, str], None]


def start(*, kind: str, params: dict, user=None) -> PipelineJob:
    """Record a new chain and enqueue its first stage (inline: run the whole chain now)."""
    job = services.create_job(kind=kind, params=params, user=user)
    _enqueue_stage(job_id=job.pk, stage=services.STAGES[kind][0])
    job.refresh_from_db()
    return job


def _enqueue_stage(*, job_id: int, stage: str) -> None:
    handle = enqueue(services.QUEUE_OF[stage], STAGE_JOB, job_id=job_id, stage=stage)
    if handle.job_id:
        services.do_add_rq_id(job_id=job_id, rq_id=handle.job_id)


def run_stage(*, job_id: int, stage: str) -> None:
    """Run one stage of a chain and enqueue the next. Failures are recorded on the job (and
    logged), not raised: the record is where admins read them."""
    job = services.check_begin_stage(job_id=job_id, stage=stage)
    if job is None:
        return
    report = services.progress_reporter(job_id=job.pk)
    try:
        outcome = STAGE_WORK[stage](job, report)
    except Exception as exc:
        if not isinstance(exc, services.Cancelled):
            logger.exception("job #%s: stage %s failed", job.pk, stage)
        job.refresh_from_db()
        services.do_fail_stage(job=job, stage=stage, exc=exc)
        return
    job.refresh_from_db()
    following = services.do_finish_stage(job=job, stage=stage, **outcome)
    if following:
        _enqueue_stage(job_id=job.pk, stage=following)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _encode(job: PipelineJob, report: Progress) -> dict:
    p = job.params
    report(0, 0, "finding offers to encode")
    stats = encoding.encode_offers(
        shops=p["shops"],
        image_spec=p["image_spec"],
        text_spec=p["text_spec"],
        progress=lambda done, total, label: report(done, total, f"encoding {label}"),
    )
    detail = "; ".join(
        f"{s.encoder.kind} {s.encoder.spec}: {s.n_encoded} encoded, {s.n_from_cache} from cache, "
        f"{s.n_offers - s.n_pending} already stored"
        for s in stats
    )
    return {"detail": detail or "nothing to encode"}


def _match(job: PipelineJob, report: Progress) -> dict:
    p = job.params
    report(0, 1, "matching")
    run = matching_service.match(
        query_shop=p["query_shop"],
        index_shop=p["index_shop"],
        since=_date(p.get("since")),
        model=p.get("model"),
        features=p["features"],
        config=MatchConfig(),
        image_spec=p["image_spec"],
        text_spec=p["text_spec"],
        user=job.created_by,
        new_only=bool(p.get("new_only")),
    )
    report(1, 1, "matched")
    r1 = run.metrics.get("R@1")
    quality = f", R@1 {r1:.3f}" if isinstance(r1, float) else ""
    return {
        "detail": f"run #{run.pk}: {run.n_queries} queries{quality}",
        "run": run,
        "model": run.model,
    }


def _route(job: PipelineJob, report: Progress) -> dict:
    p = job.params
    report(0, 1, "routing")
    summary = routing_service.route_run(
        run=job.run,
        accept=p.get("accept"),
        review=p.get("review"),
        target_precision=p["target_precision"],
        user=job.created_by,
    )
    report(1, 1, "routed")
    return {
        "detail": f"{summary['n_auto']} auto-accepted, {summary['n_review']} to review, "
        f"{summary['n_dropped']} dropped"
    }


def _train(job: PipelineJob, report: Progress) -> dict:
    p = job.params
    epochs = int(p["epochs"])
    report(0, epochs, "training epochs")
    model: ProjectionModel = training.train_projection(
        train_shops=p["train_shops"],
        before=_date(p.get("before")),
        features=p["features"],
        config=TrainConfig(
            epochs=epochs,
            labels=tuple(p.get("labels", ["product_ids"])),
            min_gold_accuracy=p.get("min_gold_accuracy"),
        ),
        image_spec=p["image_spec"],
        text_spec=p["text_spec"],
        name=p.get("name", ""),
        progress=lambda record: report(int(record["epoch"]), epochs, "training epochs"),
    )
    r1 = model.metrics.get("val_R@1")
    quality = f", validation R@1 {r1:.3f}" if isinstance(r1, float) else ""
    return {"detail": f"{model}: {model.n_train_offers} training offers{quality}", "model": model}


STAGE_WORK: dict[str, Callable[[PipelineJob, Progress], dict]] = {
    "encode": _encode,
    "match": _match,
    "route": _route,
    "train": _train,
}
