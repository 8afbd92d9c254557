"""Writes of the job record (PipelineJob): create, begin and finish stages, progress, cancel,
failure, stale jobs. Locking (Zulip style): ``check_*`` reads the row under
``select_for_update`` and decides; ``do_*`` writes. The stage work itself is in chain.py.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from core.failures import failure_message
from matching import selectors as matching_selectors
from matching.services import matching as matching_service
from operations.models import PipelineJob

Kind = PipelineJob.Kind
Status = PipelineJob.Status

#: the stages of each chain, in order
STAGES: dict[str, tuple[str, ...]] = {
    Kind.MATCH: ("encode", "match", "route"),
    Kind.TRAIN: ("encode", "train"),
}
#: the queue each stage runs on (encoding needs the GPU worker)
QUEUE_OF = {"encode": "gpu", "match": "default", "route": "default", "train": "default"}
#: a running job on another host whose heartbeat is older than this is taken as interrupted
OTHER_HOST_STALE_AFTER = dt.timedelta(hours=6)
INTERRUPTED = "interrupted: the process running this job is gone"


class Cancelled(Exception):
    """Raised inside a stage (from its progress callback) when an admin cancelled the job."""


class NothingToCancel(ValueError):
    pass


def create_job(*, kind: str, params: dict, user=None) -> PipelineJob:
    return PipelineJob.objects.create(
        kind=kind,
        params=params,
        created_by=user if user is not None and user.pk else None,
        stages=[{"name": name, "status": "pending"} for name in STAGES[kind]],
    )


def _stage(job: PipelineJob, name: str) -> dict:
    return next(s for s in job.stages if s["name"] == name)


def _now_iso() -> str:
    return timezone.now().isoformat()


def check_begin_stage(*, job_id: int, stage: str) -> PipelineJob | None:
    """Lock the job and start ``stage``; None when it must not run (cancelled, failed, done,
    interrupted, or a cancel was requested: then it is marked cancelled here)."""
    with transaction.atomic():
        job = PipelineJob.objects.select_for_update().get(pk=job_id)
        if job.status not in (Status.QUEUED, Status.RUNNING):
            return None
        now = timezone.now()
        if job.cancel_requested:
            job.status, job.finished_at = Status.CANCELLED, now
            job.save(update_fields=["status", "finished_at"])
            return None
        job.status = Status.RUNNING
        job.started_at = job.started_at or now
        job.stage = stage
        _stage(job, stage).update(status="running", started_at=now.isoformat())
        job.progress_done, job.progress_total, job.progress_label = 0, 0, ""
        job.worker_host, job.worker_pid = matching_selectors.this_host(), os.getpid()
        job.heartbeat_at = now
        job.save()
    return job


def progress_reporter(*, job_id: int) -> Callable[[int, int, str], None]:
    """``report(done, total, label)``: store progress and the heartbeat (one UPDATE), then
    raise :class:`Cancelled` if an admin asked to cancel the job."""

    def report(done: int, total: int, label: str = "") -> None:
        PipelineJob.objects.filter(pk=job_id).update(
            progress_done=max(int(done), 0),
            progress_total=max(int(total), 0),
            progress_label=label[:200],
            heartbeat_at=timezone.now(),
        )
        if PipelineJob.objects.filter(pk=job_id, cancel_requested=True).exists():
            raise Cancelled(f"job #{job_id} was cancelled by an admin")

    return report


def do_finish_stage(
    *, job: PipelineJob, stage: str, detail: str, run=None, model=None
) -> str | None:
    """Mark ``stage`` done (with its results); returns the next stage, or None when the chain
    is done. Between stages the job is "queued" (the next stage waits for a worker)."""
    now = timezone.now()
    _stage(job, stage).update(status="done", finished_at=now.isoformat(), detail=detail)
    if run is not None:
        job.run = run
    if model is not None:
        job.model = model
    names = list(STAGES[job.kind])
    following = names[names.index(stage) + 1 :]
    if following:
        job.status = Status.QUEUED
        job.worker_host, job.worker_pid = "", None
    else:
        job.status, job.finished_at = Status.DONE, now
    job.save()
    return following[0] if following else None


def do_fail_stage(*, job: PipelineJob, stage: str, exc: BaseException) -> None:
    now = timezone.now()
    cancelled = isinstance(exc, Cancelled)
    _stage(job, stage).update(
        status="cancelled" if cancelled else "failed",
        finished_at=now.isoformat(),
        detail="" if cancelled else failure_message(exc),
    )
    job.status = Status.CANCELLED if cancelled else Status.FAILED
    job.error = "" if cancelled else failure_message(exc)
    job.finished_at = now
    job.save()


def do_add_rq_id(*, job_id: int, rq_id: str) -> None:
    with transaction.atomic():
        job = PipelineJob.objects.select_for_update().get(pk=job_id)
        job.rq_ids = [*job.rq_ids, rq_id]
        job.save(update_fields=["rq_ids"])


def request_cancel(*, job_id: int) -> PipelineJob:
    """A queued job is cancelled at once; a running one at its next check (between stages, and
    within encoding and training at their next progress report). NothingToCancel otherwise."""
    with transaction.atomic():
        job = PipelineJob.objects.select_for_update().get(pk=job_id)
        if job.status == Status.QUEUED:
            job.status, job.finished_at, job.cancel_requested = (
                Status.CANCELLED,
                timezone.now(),
                True,
            )
            for stage in job.stages:
                if stage["status"] == "pending":
                    stage["status"] = "cancelled"
        elif job.status == Status.RUNNING:
            job.cancel_requested = True
        else:
            raise NothingToCancel(f"job #{job.pk} is {job.status}: there is nothing to cancel")
        job.save()
    return job


def job_is_interrupted(job: PipelineJob, *, now: dt.datetime | None = None) -> bool:
    """A "running" job whose process is gone: on this host its pid no longer exists; on
    another host its heartbeat is older than OTHER_HOST_STALE_AFTER."""
    if job.status != Status.RUNNING:
        return False
    if job.worker_host and job.worker_host == matching_selectors.this_host() and job.worker_pid:
        try:
            os.kill(job.worker_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    seen = job.heartbeat_at or job.started_at or job.created_at
    return seen is not None and (now or timezone.now()) - seen > OTHER_HOST_STALE_AFTER


def mark_stale_jobs() -> int:
    """Mark running jobs whose process is gone as interrupted, and the match runs such a
    process left "running" as failed (interrupted; they never have half-stored candidates)."""
    matching_service.fail_stale_runs()
    n = 0
    for job in PipelineJob.objects.filter(status=Status.RUNNING):
        if not job_is_interrupted(job):
            continue
        with transaction.atomic():
            locked = PipelineJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != Status.RUNNING:
                continue
            for stage in locked.stages:
                if stage["status"] == "running":
                    stage["status"] = "interrupted"
            locked.status, locked.error = Status.INTERRUPTED, INTERRUPTED
            locked.finished_at = timezone.now()
            locked.save()
            n += 1
    return n
