"""Writes of the demo: recording that data it generated is synthetic."""

from __future__ import annotations

from collections.abc import Iterable

from demo import catalogue
from matching.models import Shop


def mark_shops_synthetic(*, names: Iterable[str] = catalogue.SHOP_NAMES) -> int:
    """Mark these shops (default: the generated demo catalogue's) as holding synthetic data,
    so that the UI labels it; returns how many shops exist under these names."""
    return Shop.objects.filter(name__in=list(names)).update(synthetic=True)
