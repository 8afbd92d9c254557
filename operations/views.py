"""Admin pages: start a chain (match or train), the jobs page with live progress (htmx polls a
fragment while something runs), one job, cancel. Thin: forms validate, chain.start records and
enqueues, selectors read."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from operations import chain, selectors, services
from operations.forms import MatchChainForm, TrainChainForm
from operations.models import PipelineJob
from validation.permissions import admin_required

POLL_SECONDS = 2


def _start(request: HttpRequest, *, form_class, kind: str, template: str) -> HttpResponse:
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        job = chain.start(kind=kind, params=form.job_params(), user=request.user)
        messages.success(request, f"Started job #{job.pk} ({job.get_kind_display()}).")
        return redirect(f"{_jobs_url()}?started={job.pk}#job-{job.pk}")
    return render(request, template, {"form": form}, status=400 if form.errors else 200)


def _jobs_url() -> str:
    return reverse("operations:jobs")


@admin_required
def start_match(request: HttpRequest) -> HttpResponse:
    return _start(
        request,
        form_class=MatchChainForm,
        kind=PipelineJob.Kind.MATCH,
        template="operations/start_match.html",
    )


@admin_required
def start_train(request: HttpRequest) -> HttpResponse:
    return _start(
        request,
        form_class=TrainChainForm,
        kind=PipelineJob.Kind.TRAIN,
        template="operations/start_train.html",
    )


def _jobs_context(request: HttpRequest) -> dict:
    services.mark_stale_jobs()
    rows = selectors.recent_jobs()
    active = any(r.status in ("queued", "running") for r in rows)
    started = request.GET.get("started", "")
    return {
        "rows": rows,
        "active": active,
        "poll_seconds": POLL_SECONDS,
        "started": int(started) if started.isdigit() else None,
    }


@never_cache
@admin_required
def jobs(request: HttpRequest) -> HttpResponse:
    """The jobs page; with HX-Request only its table (htmx polls it while a job is active)."""
    template = (
        "operations/_jobs_table.html"
        if request.headers.get("HX-Request")
        else ("operations/jobs.html")
    )
    return render(request, template, _jobs_context(request))


@never_cache
@admin_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    services.mark_stale_jobs()
    job = get_object_or_404(PipelineJob.objects.select_related("run", "model"), pk=job_id)
    template = (
        "operations/_job_panel.html"
        if request.headers.get("HX-Request")
        else ("operations/job.html")
    )
    return render(request, template, {"job": job, "poll_seconds": POLL_SECONDS})


@require_POST
@admin_required
def cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    get_object_or_404(PipelineJob, pk=job_id)
    try:
        job = services.request_cancel(job_id=job_id)
    except services.NothingToCancel as exc:
        messages.error(request, str(exc))
    else:
        if job.status == PipelineJob.Status.CANCELLED:
            messages.success(request, f"Job #{job.pk} cancelled.")
        else:
            messages.success(
                request, f"Job #{job.pk} will stop at its next check (stage {job.stage})."
            )
    return redirect("operations:job", job_id=job_id)


@admin_required
def job_for_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """The runs page links each run here: to the job that made it, if one did."""
    job = selectors.job_for_run(run_id)
    if job is None:
        messages.info(
            request,
            f"Run #{run_id} was not made by a job started from the web (a command or the API "
            "made it); its match is listed below as a job of kind match.",
        )
        return redirect("operations:jobs")
    return redirect("operations:job", job_id=job.pk)
