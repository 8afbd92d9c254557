"""Background jobs of the validation app (thin: they call one service).

Services enqueue these by dotted path (validation.services.export.EXPORT_JOB), so the import
arrow points one way only: jobs -> services.
"""

from __future__ import annotations

from validation.services import export as export_services


def run_export(export_id: int) -> int:
    """Queue `export`: write one export file; returns its number of rows."""
    return export_services.do_run_export(export_id=export_id).n_rows
