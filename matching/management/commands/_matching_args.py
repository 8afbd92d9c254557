"""Argument parsing shared by the matching-engine commands."""

from __future__ import annotations

import datetime as dt
import sys

from django.core.management.base import CommandError
from tqdm import tqdm


def shop_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise CommandError("empty shop list")
    return names


def date_arg(value: str | None) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


def spec_arg(value: str | None) -> str | None:
    """An encoder spec; "none" / "" disables that tower."""
    if value is None or value.strip().lower() in {"", "none"}:
        return None
    return value


class Bar:
    """tqdm on stderr, usable as a `progress(done, total, stage)` callback."""

    def __init__(self, *, disable: bool, unit: str = "offers"):
        self.bar = None
        self.stage = None
        self.disable = disable
        self.unit = unit

    def __call__(self, done: int, total: int, stage: str = "") -> None:
        if self.bar is None or stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=total,
                desc=stage,
                unit=self.unit,
                disable=self.disable or None,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_training_arguments(parser) -> None:
    """The projection-training flags, with TrainConfig's defaults (train_projection, benchmark)."""
    from matching.ml.training import TrainConfig

    d = TrainConfig()
    parser.add_argument("--dim", type=int, default=d.dim)
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lone-share", type=float, default=d.lone_share)
    parser.add_argument("--temperature", type=float, default=d.temperature)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--patience", type=int, default=d.patience)
    parser.add_argument("--seed", type=int, default=d.seed)
