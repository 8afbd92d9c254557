"""Thin views: parse input, call one service or selector, render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from matching import selectors as matching_selectors
from matching.models import MatchRun
from validation import charts
from validation.forms import JudgeForm, LeaseForm, RoutingForm
from validation.models import Export, ReviewSettings
from validation.permissions import admin_required, validator_required
from validation.routing import DEFAULT_TARGET_PRECISION
from validation.selectors import quality as quality_selectors
from validation.selectors import review as review_selectors
from validation.selectors import routing as routing_selectors
from validation.selectors import runs as runs_selectors
from validation.selectors import throughput as throughput_selectors
from validation.services import export as export_services
from validation.services import leasing as leasing_services
from validation.services import review as review_services
from validation.services import routing as routing_services

# --------------------------------------------------------------------------- validators


def _wants_fragment(request: HttpRequest) -> bool:
    """Asked by the review page's script (htmx sends HX-Request): answer with the review panel
    alone instead of a redirect to the full page. Without JavaScript: the form POST + redirect."""
    return request.headers.get("HX-Request") == "true"


def _review_response(request: HttpRequest, *, fragment: bool) -> HttpResponse:
    """The row on the validator's screen (leased now if needed): the full review page, or the
    review panel alone for the page's script (one round-trip after a judgement)."""
    cfg = ReviewSettings.load()  # read once per page
    lease = leasing_services.lease_next_row(validator=request.user, cfg=cfg)
    context = {
        "counters": review_selectors.validator_counters(validator=request.user),
        "can_undo": review_selectors.can_undo(validator=request.user, cfg=cfg),
        "cfg": cfg,
        "fragment": fragment,
    }
    if lease is None:
        if fragment:  # nothing left: the script loads the full "nothing to review" page
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("validation:review")
            return response
        return render(request, "validation/review_empty.html", context)
    context.update(review_selectors.review_page(lease=lease, validator=request.user, cfg=cfg))
    template = "validation/_review_panel.html" if fragment else "validation/review.html"
    return render(request, template, context)


def _after_action(request: HttpRequest) -> HttpResponse:
    if _wants_fragment(request):
        response = _review_response(request, fragment=True)
        add_never_cache_headers(response)
        return response
    return redirect("validation:review")


@never_cache
@validator_required
def review(request: HttpRequest) -> HttpResponse:
    return _review_response(request, fragment=_wants_fragment(request))


@never_cache
@validator_required
def prefetch(request: HttpRequest) -> HttpResponse:
    """Lease the row that comes after the one on the validator's screen and answer with its
    images (hidden), so the browser fetches them while the current row is judged."""
    cfg = ReviewSettings.load()
    lease = leasing_services.prefetch_next_lease(validator=request.user, cfg=cfg)
    if lease is None:
        return render(request, "validation/_prefetch.html", {"urls": []})
    counters = review_selectors.validator_counters(validator=request.user)
    page = review_selectors.review_page(lease=lease, validator=request.user, cfg=cfg)
    # the panel as it will look once the row on screen is judged: shown by the script at the
    # key press, then replaced by the server's answer to the judgement (same row, normally)
    context = {
        "urls": review_selectors.image_urls(page),
        "counters": {**counters, "today": counters["today"] + 1},
        "can_undo": True,
        "cfg": cfg,
        "fragment": False,  # no messages: they belong to the server's answer
        **page,
    }
    return render(request, "validation/_prefetch.html", context)


@require_POST
@validator_required
def judge(request: HttpRequest) -> HttpResponse:
    form = JudgeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Invalid judgement.")
        return _after_action(request)
    try:
        review_services.judge_row(
            validator=request.user,
            lease_id=form.cleaned_data["lease"],
            slot=form.cleaned_data["slot"],
        )
    except review_services.ReviewError as exc:
        messages.error(request, str(exc))
    return _after_action(request)


@require_POST
@validator_required
def skip(request: HttpRequest) -> HttpResponse:
    form = LeaseForm(request.POST)
    if form.is_valid():
        try:
            review_services.skip_row(validator=request.user, lease_id=form.cleaned_data["lease"])
        except review_services.ReviewError as exc:
            messages.error(request, str(exc))
    return _after_action(request)


@require_POST
@validator_required
def undo(request: HttpRequest) -> HttpResponse:
    try:
        review_services.undo_last_judgement(validator=request.user)
        messages.info(request, "Your last judgement was undone: judge the row again.")
    except review_services.ReviewError as exc:
        messages.error(request, str(exc))
    return _after_action(request)


@never_cache
@validator_required
def feedback(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "validation/feedback.html",
        {"fb": review_services.show_feedback(validator=request.user)},
    )


# --------------------------------------------------------------------------- admins


@admin_required
def runs(request: HttpRequest) -> HttpResponse:
    return render(request, "validation/runs.html", {"runs": runs_selectors.runs_overview()})


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _run_or_404(run_id: int, *, with_curve: bool = True) -> MatchRun:
    try:
        return matching_selectors.run_by_ref(run_id, with_curve=with_curve)
    except MatchRun.DoesNotExist as exc:
        raise Http404(f"no match run #{run_id}") from exc


@admin_required
def triage(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id, with_curve=False)  # the curve is read with the cached scores
    try:
        matching_selectors.check_run_done(run)
    except matching_selectors.RunNotDone as exc:
        return render(
            request, "validation/run_not_done.html", {"run": run, "error": str(exc)}, status=409
        )
    if request.method == "POST":
        form = RoutingForm(request.POST)
        if form.is_valid():
            summary = routing_services.route_run(
                run=run,
                accept=form.cleaned_data["accept"],
                review=form.cleaned_data["review"],
                target_precision=form.cleaned_data["target_precision"],
                user=request.user,
            )
            messages.success(
                request,
                f"Routed: {summary['n_auto']} auto-accepted, {summary['n_review']} to review "
                f"({summary['n_review_rows_created']} new rows), {summary['n_dropped']} dropped.",
            )
            return redirect("validation:triage", run_id=run.pk)
    current = routing_selectors.current_routing(run=run)
    if "target_precision" in request.GET:
        params = {
            "accept": _float(request.GET.get("accept")),
            "review": _float(request.GET.get("review")),
            "target_precision": _float(request.GET.get("target_precision"))
            or DEFAULT_TARGET_PRECISION,
        }
    elif current is not None:
        params = {
            "accept": current.accept,
            "review": current.review,
            "target_precision": current.target_precision or DEFAULT_TARGET_PRECISION,
        }
    else:
        params = {"accept": None, "review": None, "target_precision": DEFAULT_TARGET_PRECISION}
    preview = routing_selectors.routing_preview(
        run=run, **params, scores=routing_selectors.cached_run_scores(run=run)
    )
    form = RoutingForm(
        initial={
            "accept": None if preview["accept"] is None else round(preview["accept"], 6),
            "review": round(preview["review"], 6),
            "target_precision": preview["target_precision"],
        }
    )
    svg = charts.pr_curve_svg(
        curve=preview["curve"], accept=preview["accept"], review=preview["review"]
    )
    reliability = routing_selectors.reliability(run=run)
    reliability_svg = charts.reliability_svg(bins=reliability["bins"]) if reliability else ""
    return render(
        request,
        "validation/triage.html",
        {
            "run": run,
            "form": form,
            "preview": preview,
            "current": current,
            "svg": mark_safe(svg),  # noqa: S308 - built from numbers only (charts.py)
            "reliability": reliability,
            "reliability_svg": mark_safe(reliability_svg),  # noqa: S308 - numbers only
            "progress": routing_selectors.row_progress(run=run),
        },
    )


@admin_required
def quality_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id, with_curve=False)
    report = quality_selectors.quality_report(run=run, n_boot=500)
    # the aggregation replay is computed on request (?replay=1): it replays every row
    replayed = quality_selectors.aggregation_replay(run=run) if request.GET.get("replay") else None
    return render(request, "validation/quality.html", {"run": run, "q": report, "replay": replayed})


@require_POST
@admin_required
def export(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id)
    try:
        exp = export_services.request_export(run=run, user=request.user)
    except matching_selectors.RunNotDone as exc:
        messages.error(request, str(exc))
        return redirect("validation:runs")
    if exp.status == Export.Status.DONE:
        return redirect(reverse("validation:download", args=[exp.pk]))
    messages.info(
        request, f"Export #{exp.pk} queued on the export queue; it appears below when done."
    )
    return redirect("validation:runs")


@admin_required
def download_export(request: HttpRequest, export_id: int) -> HttpResponse:
    exp = get_object_or_404(Export, pk=export_id, status=Export.Status.DONE)
    path = export_services.export_dir() / exp.path
    if not path.is_file():
        raise Http404("export file missing")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)


@admin_required
def throughput(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "validation/throughput.html",
        {"t": throughput_selectors.throughput_summary()},
    )
