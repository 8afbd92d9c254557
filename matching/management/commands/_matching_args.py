"""Argument parsing shared by the matching-engine commands."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import fields

from django.core.management.base import CommandError
from tqdm import tqdm

from matching.ml.match_config import (
    IMAGE_TEXT_WEIGHT,
    INDEX_TYPES,
    RESCORE_MODES,
    TEXT_ONLY_TEXT_WEIGHT,
    UNBRANDED_INDEXES,
    MatchConfig,
)


def shop_list(value: str | None) -> list[str] | None:
    """ "a,b" -> ["a", "b"]: the comma form, for shop names without commas."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise CommandError("empty shop list")
    return names


def add_shop_arguments(parser, *, plural: str, single: str, what: str = "shop names") -> None:
    """``--<plural> a,b`` (names without commas) and ``--<single> NAME``, repeatable (any name,
    e.g. "Smith, Jones & Co"); both may be combined."""
    parser.add_argument(f"--{plural}", help=f"comma-separated {what} (names without commas)")
    parser.add_argument(
        f"--{single}",
        action="append",
        metavar="NAME",
        help=f"one of the {what}, repeat for more; for names that contain commas",
    )


def shops_from(options: dict, *, plural: str, single: str, required: bool = False):
    """The shop names given with :func:`add_shop_arguments` (None when neither was given)."""
    names = shop_list(options.get(plural.replace("-", "_"))) or []
    for name in options.get(single.replace("-", "_")) or []:
        if not name.strip():
            raise CommandError(f"--{single}: empty shop name")
        names.append(name.strip())
    if not names:
        if required:
            raise CommandError(f"give --{plural} or --{single} (repeatable)")
        return None
    return list(dict.fromkeys(names))


def threshold_arg(value: str) -> float | None:
    """A brand threshold 0-100, or none/off for no blocking."""
    if value.strip().lower() in {"none", "off", ""}:
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'none': {value!r}") from None


def add_match_arguments(parser) -> None:
    """The match parameters as flags, with MatchConfig's defaults (match, benchmark).

    One flag per MatchConfig field, dest = the field name; build the config with
    :func:`match_config_from_options`.
    """
    d = MatchConfig()
    parser.add_argument("--k", type=int, default=d.k, help=f"candidates per query ({d.k})")
    parser.add_argument(
        "--brand-threshold",
        type=threshold_arg,
        default=d.brand_threshold,
        help="rapidfuzz token-set similarity 0-100 of brand keys; 'none': no blocking "
        f"({d.brand_threshold})",
    )
    parser.add_argument("--index-type", choices=INDEX_TYPES, default=d.index_type)
    parser.add_argument(
        "--one-to-one",
        action=argparse.BooleanOptionalAction,
        default=d.one_to_one,
        help="greedy one-to-one assignment of rank 1 (--no-one-to-one: plain top-k)",
    )
    parser.add_argument(
        "--text-weight",
        type=float,
        default=d.text_weight,
        help="mix in TF-IDF text similarity (0-1); default: "
        f"{TEXT_ONLY_TEXT_WEIGHT} without images, {IMAGE_TEXT_WEIGHT} with",
    )
    parser.add_argument("--rescore", choices=RESCORE_MODES, default=d.rescore)
    parser.add_argument("--shortlist", type=int, default=d.shortlist)
    parser.add_argument("--csls-k", type=int, default=d.csls_k)
    parser.add_argument("--unassigned-penalty", type=float, default=d.unassigned_penalty)
    parser.add_argument(
        "--discriminator",
        action=argparse.BooleanOptionalAction,
        default=d.discriminator,
        help="rescore with the model's pair discriminator when it has one "
        "(--no-discriminator: the search score)",
    )
    parser.add_argument(
        "--unbranded-index",
        choices=UNBRANDED_INDEXES,
        default=d.unbranded_index,
        help="how a blocked search compares unbranded offers: flat (exact) or ivf for large "
        f"searches ({d.unbranded_index})",
    )
    parser.add_argument(
        "--ivf-min-comparisons",
        type=int,
        default=d.ivf_min_comparisons,
        help="queries x index offers from which an unbranded search may use IVF "
        f"({d.ivf_min_comparisons:,})",
    )
    parser.add_argument(
        "--ivf-nprobe",
        type=int,
        default=d.ivf_nprobe,
        help=f"IVF lists visited per query ({d.ivf_nprobe})",
    )
    parser.add_argument(
        "--discriminator-rerank",
        action=argparse.BooleanOptionalAction,
        default=d.discriminator_rerank,
        help="order candidates by the discriminator's probability "
        "(--no-discriminator-rerank: keep the search order, rescore only)",
    )


def match_config_from_options(options: dict) -> MatchConfig:
    """The MatchConfig of parsed options (see :func:`add_match_arguments`)."""
    try:
        return MatchConfig(**{f.name: options[f.name] for f in fields(MatchConfig)})
    except ValueError as exc:
        raise CommandError(str(exc)) from None


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
    parser.add_argument(
        "--calibration-share",
        type=float,
        default=d.calibration_share,
        help="share of products held out to calibrate the scores (0 = no calibration)",
    )
    parser.add_argument(
        "--discriminator-folds",
        type=int,
        default=d.discriminator_folds,
        help="train the pair discriminator out-of-fold over this many extra projections "
        "(the final one trains on every product); 0 = on the --calibration-share split only",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
