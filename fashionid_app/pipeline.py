"""The whole pipeline in one call, as the demo runs it: import, encode, train, match, route.

It orchestrates services of both apps (matching, then validation) and so lives above them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db.models import Count

from matching.catalogue_import import import_catalogue
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import ImportBatch, MatchRun, Offer, ProjectionModel, Shop
from matching.services import encoding, training
from matching.services import matching as matching_service
from validation.services import routing as validation_routing


@dataclass(frozen=True)
class PipelinePlan:
    train_shops: list[str]
    index_shop: str
    query_shop: str
    cutoff: date | None


@dataclass(frozen=True)
class PipelineResult:
    batch: ImportBatch
    plan: PipelinePlan
    model: ProjectionModel | None
    run: MatchRun
    routing: dict


def plan_for_catalogue(
    *,
    index_shop: str | None = None,
    query_shop: str | None = None,
    train_shops: list[str] | None = None,
    cutoff: date | None = None,
) -> PipelinePlan:
    """Fill in what was not given: index = largest shop, query = second largest, train on all
    shops, cut-off = median creation date of offers with a product id (train before, match
    from it on)."""
    by_size = list(Shop.objects.annotate(n=Count("offers")).filter(n__gt=0).order_by("-n", "name"))
    if len(by_size) < 2:
        raise ValueError("the catalogue needs at least two shops to match")
    index_shop = index_shop or by_size[0].name
    query_shop = query_shop or next(s.name for s in by_size if s.name != index_shop)
    train_shops = train_shops or [s.name for s in by_size]
    if cutoff is None:
        dates = sorted(
            Offer.objects.filter(product_id__isnull=False, created_at__isnull=False).values_list(
                "created_at", flat=True
            )
        )
        cutoff = statistics.median_low(dates) if dates else None
    return PipelinePlan(train_shops, index_shop, query_shop, cutoff)


def run_pipeline(
    *,
    catalogue: Path,
    plan: dict | None = None,
    epochs: int = TrainConfig.epochs,
    image_spec: str = DEFAULT_IMAGE_ENCODER,
    text_spec: str = DEFAULT_TEXT_ENCODER,
    match_config: MatchConfig | None = None,
    say: Callable[[str], None] = print,
) -> PipelineResult:
    """``match_config``: the scoring of the match run (MatchConfig's defaults when None)."""
    batch = import_catalogue(directory=catalogue)
    say(
        f"imported {batch.n_imported} new, {batch.n_updated} updated, {batch.n_unchanged} "
        f"unchanged, {batch.n_rejected} rejected offers ({batch.n_images} images)"
    )
    chosen = plan_for_catalogue(**(plan or {}))
    say(
        f"plan: train on {', '.join(chosen.train_shops)} before {chosen.cutoff}; "
        f"match {chosen.query_shop} -> {chosen.index_shop} from {chosen.cutoff} on"
    )
    shops = sorted({*chosen.train_shops, chosen.index_shop, chosen.query_shop})
    has_images = Offer.objects.filter(images__isnull=False).exists()
    specs = {"image_spec": image_spec if has_images else None, "text_spec": text_spec}
    encoding.encode_offers(shops=shops, **specs)
    say("encoded offers (raw embeddings cached)")
    features = (
        "image+text+numeric"
        if Offer.objects.filter(images__isnull=False).exists()
        else "text+numeric"
    )
    model = training.train_projection(
        train_shops=chosen.train_shops,
        before=chosen.cutoff,
        features=features,
        config=TrainConfig(epochs=epochs),
        **specs,
    )
    say(
        f"trained {model}: validation R@1 {model.metrics.get('val_R@1', float('nan')):.3f}, "
        f"best epoch {model.metrics.get('best_epoch')}"
    )
    run = matching_service.match(
        query_shop=chosen.query_shop,
        index_shop=chosen.index_shop,
        since=chosen.cutoff,
        model=model,
        features=features,
        config=match_config or MatchConfig(),
        **specs,
    )
    say(f"match run #{run.pk}: {run.n_queries} queries; metrics {_short(run.metrics)}")
    routing = validation_routing.route_run(run=run)
    say(
        f"routing (accept >= {_threshold(routing['accept'])}, "
        f"review >= {_threshold(routing['review'])}): "
        f"{routing['n_auto']} auto-accepted, {routing['n_review']} to review, "
        f"{routing['n_dropped']} dropped"
    )
    return PipelineResult(batch=batch, plan=chosen, model=model, run=run, routing=routing)


def _threshold(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def _short(metrics: dict) -> str:
    keys = ("R@1", "R@3", "AUCPR", "best_F1", "blocking_recall")
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in keys if isinstance(metrics.get(k), float))
