"""One way to start background work: `enqueue(queue, func, ...)`.

`func` is a function or its dotted path ("validation.jobs.run_export"): a service that must not
import its job module (the job imports the service) names the job by path, which RQ resolves in
the worker and `enqueue` resolves here when running inline.

With REDIS_URL set, the call goes to the django-rq queue of that name (`gpu` for encoding,
`default` for training/retrieval/routing, `export` for large exports). Without it (the
embedded default) the function runs inline, in the calling process, and its result is
returned at once. Jobs report progress with `report_progress`, which writes the current RQ
job's meta (visible in the RQ dashboard and the admin) and is a no-op inline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class JobHandle:
    """What `enqueue` returns: the RQ job id, or the inline result."""

    queue: str
    job_id: str | None
    result: Any = None

    @property
    def ran_inline(self) -> bool:
        return self.job_id is None


def jobs_run_inline() -> bool:
    return not settings.REDIS_URL


def enqueue(queue: str, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> JobHandle:
    """Run `func` (a function or its dotted path) on the named queue, or inline without Redis.

    With Redis the job is sent when the current database transaction commits (at once in
    autocommit), so a worker never sees rows that are not committed yet; its id is known now.
    """
    if queue not in settings.JOB_QUEUES:
        raise ValueError(f"unknown queue {queue!r}; known: {', '.join(settings.JOB_QUEUES)}")
    if jobs_run_inline():
        target = import_string(func) if isinstance(func, str) else func
        return JobHandle(queue=queue, job_id=None, result=target(*args, **kwargs))
    import django_rq

    job_id = uuid.uuid4().hex
    rq_queue = django_rq.get_queue(queue, commit_mode="auto")
    transaction.on_commit(
        lambda: rq_queue.enqueue(func, args=args, kwargs=kwargs, job_id=job_id), robust=False
    )
    return JobHandle(queue=queue, job_id=job_id)


def report_progress(*, done: int, total: int, stage: str = "") -> None:
    """Store progress in the current RQ job's meta; does nothing outside a worker."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = {"done": done, "total": total, "stage": stage}
    job.save_meta()
