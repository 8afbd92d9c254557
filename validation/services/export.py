"""Export writes: the accepted matches of a run as a CSV file, inline or as a job."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core import queues
from matching import selectors as matching_selectors
from matching.models import MatchRun
from validation import export as export_rules
from validation.models import Export, ReviewSettings
from validation.selectors import runs as runs_selectors

log = logging.getLogger(__name__)

# The job that writes a queued export (by dotted path: services never import validation.jobs).
EXPORT_JOB = "validation.jobs.run_export"


def export_dir() -> Path:
    """Where export files are written (outside media: exports are never served from there)."""
    return Path(settings.FASHIONID_EXPORT_DIR)


def write_export(*, run: MatchRun, path: Path) -> tuple[int, int]:
    """Write the run's accepted matches (one-to-one) as CSV; returns (rows, dropped conflicts).

    Raises matching.selectors.RunNotDone for a run that is not done (nothing is written)."""
    matching_selectors.check_run_done(run)
    kept, dropped = export_rules.one_to_one(runs_selectors.accepted_matches(run=run))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        n = export_rules.write_csv(kept, fh)
    return n, dropped


def do_run_export(*, export_id: int) -> Export:
    exp = Export.objects.select_related("run").get(pk=export_id)
    name = f"run-{exp.run_id}-export-{exp.pk}.csv"
    try:
        n, dropped = write_export(run=exp.run, path=export_dir() / name)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        exp.status, exp.error = Export.Status.FAILED, str(exc)
        exp.save(update_fields=["status", "error"])
        raise
    exp.status, exp.path, exp.n_rows, exp.n_conflicts_dropped = Export.Status.DONE, name, n, dropped
    exp.save(update_fields=["status", "path", "n_rows", "n_conflicts_dropped"])
    return exp


def request_export(*, run: MatchRun, user: AbstractBaseUser | None = None) -> Export:
    """Export inline when small, else as a job on the `export` queue (inline without Redis).

    Raises matching.selectors.RunNotDone for a run that is not done (no Export is created)."""
    matching_selectors.check_run_done(run)
    cfg = ReviewSettings.load()
    exp = Export.objects.create(run=run, created_by=user)
    if runs_selectors.n_accepted(run=run) <= cfg.export_inline_max:
        return do_run_export(export_id=exp.pk)
    transaction.on_commit(lambda: queues.enqueue("export", EXPORT_JOB, exp.pk))
    return exp
