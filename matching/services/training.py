"""Training: fit a projection head on the training shops' offers and store it."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from django.conf import settings

from core.failures import marks_failed
from matching import selectors
from matching.ml import features as ml_features
from matching.ml import projection as ml_projection
from matching.ml import training as ml_training
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.evaluation import jsonable
from matching.models import ProjectionModel
from matching.services import features as feature_rows


def train_projection(
    *,
    train_shops,
    before: date | None = None,
    features: str | Sequence[str] | None = None,
    config: ml_training.TrainConfig | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    name: str = "",
    progress: Callable[[dict], None] | None = None,
) -> ProjectionModel:
    """Train a projection head on the training shops' offers created before ``before``.

    Ground truth is ``Offer.product_id``. Embeddings must be in the store (``encode``). The
    model row is created first (status training) and finished as ready or failed; the weights go
    to ``MEDIA_ROOT/models/projection-<id>.pt``.
    """
    features = ml_features.parse_features(features)
    config = config or ml_training.TrainConfig()
    shops = selectors.shops_by_names(train_shops)
    image_encoder, text_encoder = feature_rows.resolve_encoders(features, image_spec, text_spec)
    model = ProjectionModel.objects.create(
        name=name,
        features=ml_features.features_name(features),
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        trained_before=before,
        config=config.to_dict(),
    )
    model.train_shops.set(shops)
    with marks_failed(model):
        _train(model, shops, before, features, config, progress)
    return model


def _train(model, shops, before, features, config, progress) -> None:
    started = time.perf_counter()
    offers = feature_rows.offer_rows(selectors.offers_for(shops=shops, before=before))
    if not offers:
        raise ValueError("no training offers (check the training shops and --before)")
    blocks = feature_rows.load_blocks(
        offers, features, image_encoder=model.image_encoder, text_encoder=model.text_encoder
    )
    scaler = ml_features.NumericScaler.fit(blocks.numeric_raw) if "numeric" in features else None
    x = feature_rows.assemble(blocks, features, scaler)
    product_ids = [o.product_id or None for o in offers]
    load_seconds = time.perf_counter() - started
    result = ml_training.train_projection(
        features=x, product_ids=product_ids, config=config, progress=progress
    )
    relative = f"models/projection-{model.pk}.pt"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    ml_projection.save_projection(
        result.head, path, extra={"features": list(features), "projection_model_id": model.pk}
    )
    counts: dict[str, int] = defaultdict(int)
    for pid in product_ids:
        if pid:
            counts[pid] += 1
    best = result.best
    epochs = result.history
    train_seconds = sum(h["seconds"] for h in epochs)
    model.weights_path = relative
    model.numeric_scaler = scaler.to_dict() if scaler else {}
    model.history = jsonable(epochs)
    model.n_train_offers = len(offers)
    model.n_train_products = sum(1 for n in counts.values() if n > 1)
    model.config = {**config.to_dict(), "in_dim": int(x.shape[1]), **result.head.config()}
    model.metrics = jsonable(
        {
            "val_R@1": best.get("val_r1"),
            "val_R@3": best.get("val_r3"),
            "best_epoch": result.best_epoch,
            "epochs_run": len(epochs),
            "n_val_offers": len(result.val_indices),
            "n_lone_offers": sum(1 for pid in product_ids if not pid or counts[pid] == 1),
            "seconds_load": load_seconds,
            "seconds_train": train_seconds,
            "seconds_per_epoch": train_seconds / max(len(epochs), 1),
        }
    )
    model.status = ProjectionModel.Status.READY
    model.save()
