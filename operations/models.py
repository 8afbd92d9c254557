"""The record of a job chain started from the web: which stages, where it is, how it ended.

It lives above matching and validation (a chain calls services of both); the work each stage
does is recorded where it always was (ImportBatch, ProjectionModel, MatchRun, Routing, Export):
this row links to those results and says what the chain as a whole did.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from matching.models import MatchRun, ProjectionModel


class PipelineJob(models.Model):
    class Kind(models.TextChoices):
        MATCH = "match", "encode → match → route"
        TRAIN = "train", "encode → train"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted", "interrupted (the worker process died)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # the form's cleaned input, JSON-safe (shops by name, dates as ISO strings)
    params = models.JSONField(default=dict)
    # [{"name": "encode", "status": "done", "started_at": ..., "finished_at": ..., "detail": ""}]
    stages = models.JSONField(default=list)
    stage = models.CharField(max_length=20, blank=True, help_text="the current (or last) stage")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_label = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # the RQ job of each stage (empty when jobs run inline)
    rq_ids = models.JSONField(default=list, blank=True)
    # who runs the current stage (stale-job check), and when it last reported progress
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # results: the run a match chain made; the model a train chain made (or a match chain used)
    run = models.ForeignKey(
        MatchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="pipeline_jobs"
    )
    model = models.ForeignKey(
        ProjectionModel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pipeline_jobs",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"job #{self.pk} ({self.get_kind_display()}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
