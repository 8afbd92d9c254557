from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


@register.filter
def duration(value: dt.timedelta | None) -> str:
    """12 s, 3 min 04 s, 2 h 05 min; "–" when unknown."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.filter
def percent(done: int, total: int) -> int:
    return int(100 * done / total) if total else 0
