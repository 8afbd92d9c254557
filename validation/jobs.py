"""Background jobs of the validation app (thin: they call one service)."""

from __future__ import annotations


def run_export(export_id: int) -> int:
    """Queue `export`: write one export file; returns its number of rows."""
    from validation import services

    return services.do_run_export(export_id=export_id).n_rows
