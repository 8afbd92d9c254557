"""Training: fit a projection head on the training shops' offers and store it."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import date
from pathlib import Path

import numpy as np
from django.conf import settings

from core.failures import marks_failed
from matching import selectors
from matching.ml import calibration as ml_calibration
from matching.ml import evaluation as ml_evaluation
from matching.ml import features as ml_features
from matching.ml import labels as ml_labels
from matching.ml import projection as ml_projection
from matching.ml import training as ml_training
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.evaluation import jsonable
from matching.ml.match_config import MatchConfig
from matching.models import ProjectionModel
from matching.services import discriminator as discriminator_service
from matching.services import features as feature_rows
from matching.services import training_labels


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
    allowed_review_rows: Collection[int] | None = None,
) -> ProjectionModel:
    """Train a projection head on the training shops' offers created before ``before``.

    Ground truth: ``config.labels`` (default ``Offer.product_id``; with ``verdicts`` also the
    validators' decided pairs, matching/services/training_labels.py, optionally only those of
    review rows whose validators meet ``config.min_gold_accuracy`` or, given by a caller above
    this layer, only those of ``allowed_review_rows``). What each source gave is stored in
    ``model.label_sources``. Embeddings must be in the store (``encode``). The
    model row is created first (status training) and finished as ready or failed; the weights go
    to ``MEDIA_ROOT/models/projection-<id>.pt``. ``config.calibration_share`` of the products
    (lone offers included) are held out of training and used to calibrate the model's scores
    (:func:`calibrate`), stored in ``model.calibration``.
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
        _train(model, shops, before, features, config, progress, allowed_review_rows)
    return model


def _train(model, shops, before, features, config, progress, allowed_review_rows) -> None:
    started = time.perf_counter()
    offers = feature_rows.offer_rows(selectors.offers_for(shops=shops, before=before))
    if not offers:
        raise ValueError("no training offers (check the training shops and --before)")
    loaded = training_labels.load_labels(
        offers=offers,
        sources=config.labels,
        min_gold_accuracy=config.min_gold_accuracy,
        allowed_review_rows=allowed_review_rows,
    )
    model.label_sources = jsonable(loaded.report)
    blocks = feature_rows.load_blocks(
        offers, features, image_encoder=model.image_encoder, text_encoder=model.text_encoder
    )
    all_product_ids = loaded.labels.groups
    n_shops = len({o.shop_id for o in offers})
    out_of_fold = n_shops > 1 and config.discriminator_folds >= 2
    share = config.calibration_share if n_shops > 1 and not out_of_fold else 0.0
    keep, held = ml_calibration.holdout_split(all_product_ids, share=share, seed=config.seed)
    scaler = (
        ml_features.NumericScaler.fit(blocks.numeric_raw[keep]) if "numeric" in features else None
    )
    x_all = feature_rows.assemble(blocks, features, scaler)
    x = x_all[keep]
    product_ids = [all_product_ids[i] for i in keep]
    load_seconds = time.perf_counter() - started
    result = ml_training.train_projection(
        features=x,
        product_ids=product_ids,
        config=config,
        progress=progress,
        hard_negatives=ml_labels.restrict_negatives(loaded.labels.hard_negatives, keep),
    )
    t_cal = time.perf_counter()
    match_config = MatchConfig().resolved(features)
    discriminator, inputs, discriminator_note = None, None, "no discriminator: no held-out split"
    if out_of_fold:
        discriminator, inputs, discriminator_note = discriminator_service.train_out_of_fold(
            offers=offers,
            blocks=blocks,
            x_all=x_all,
            labels=all_product_ids,
            known=loaded.known,
            hard_negatives=loaded.labels.hard_negatives,
            train_config=config,
            config=match_config,
        )
    elif len(held) and n_shops > 1:
        projected = result.head.project(x_all)
        discriminator, inputs, discriminator_note = discriminator_service.train(
            offers=offers,
            full=discriminator_service.side(offers, blocks, projected),
            held=held,
            keep=keep,
            labels=all_product_ids,
            known=loaded.known,
            config=match_config,
            seed=config.seed,
            stacked=config.discriminator_stacked,
        )
    if discriminator is not None and inputs is not None:
        calibration, calibration_note = fit_calibration_lists(
            **inputs,
            config=match_config,
            setup={
                "match_config": match_config.to_dict(),
                "n_offers": len(inputs["sims"]) if out_of_fold else len(held),
                "n_distractors": len(keep),
                "retrieval": "each training shop's held-out offers vs all the other shops' "
                "offers; scores: the discriminator's out-of-fold probabilities"
                + (f" (held out: {config.discriminator_folds} folds)" if out_of_fold else ""),
            },
        )
        relative_disc = f"models/discriminator-{model.pk}.joblib"
        discriminator.save(Path(settings.MEDIA_ROOT) / relative_disc)
        model.discriminator_path = relative_disc
        model.discriminator = jsonable({**discriminator.info, "note": discriminator_note})
    else:
        calibration, calibration_note = calibrate(
            offers=[offers[i] for i in held],
            labels=[all_product_ids[i] for i in held],
            known=[loaded.known[i] for i in held],
            distractor_labels=product_ids,
            vectors=result.head.project(x_all[held]) if len(held) else None,
            distractors=[offers[i] for i in keep],
            distractor_vectors=result.head.project(x_all[keep]) if len(held) else None,
            features=features,
            config=match_config,
            n_shops=n_shops,
        )
        model.discriminator = {"note": discriminator_note}
    calibration_seconds = time.perf_counter() - t_cal
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
    model.n_train_offers = len(keep)
    model.calibration = calibration.to_dict() if calibration is not None else {}
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
            "n_calibration_offers": len(offers) if out_of_fold else len(held),
            "calibration": calibration_note,
            "seconds_calibration": calibration_seconds,
            "discriminator": discriminator_note,
        }
    )
    model.status = ProjectionModel.Status.READY
    model.save()


def calibrate(
    *,
    offers: Sequence,
    vectors,
    features: Sequence[str],
    config: MatchConfig,
    n_shops: int,
    distractors: Sequence = (),
    distractor_vectors=None,
    labels: Sequence | None = None,
    known: Sequence[bool] | None = None,
    distractor_labels: Sequence | None = None,
) -> tuple[ml_calibration.Calibration | None, str]:
    """Score the held-out offers as ``match`` would and fit the calibration on them.

    Retrieval: every training shop in turn is the query shop; its held-out offers query the
    OTHER training shops' offers (the index): their held-out offers, which hold the true
    matches, plus ``distractors`` (their training offers, other products by construction of the
    split), so the index is as large as the whole shop, like a production index. Search: the
    match service's, with ``config`` (the default MatchConfig, recorded in the calibration's
    ``setup``). All queries are pooled into one fit. ``labels`` / ``distractor_labels``: the
    product (group) of each offer, default ``product_id``; ``known``: which held-out offers may
    query (an offer whose match status no label source knows is only an index entry). Returns
    (calibration or None, a note saying what was done or why not).
    """
    from matching.services.matching import search_offers  # MatchConfig -> search, once

    if n_shops < 2:
        return None, "not calibrated: a single training shop (queries need another shop)"
    if not offers or vectors is None:
        return None, "not calibrated: calibration_share is 0"
    shops = sorted({o.shop_id for o in offers})
    if labels is None:
        labels = [o.product_id for o in offers]
    if distractor_labels is None:
        distractor_labels = [o.product_id for o in distractors]
    known = [True] * len(offers) if known is None else list(known)
    pool = [*offers, *distractors]
    pool_labels = [*labels, *distractor_labels]
    pool_vectors = vectors if not distractors else np.concatenate([vectors, distractor_vectors])
    sims, correct1, correctk, has_match = [], [], [], []
    for shop in shops:
        q = [i for i, o in enumerate(offers) if o.shop_id == shop and known[i]]
        ix = [i for i, o in enumerate(pool) if o.shop_id != shop]
        if not q or not ix:
            continue
        qo, io = [offers[i] for i in q], [pool[i] for i in ix]
        result = search_offers(
            config,
            vectors[q],
            pool_vectors[ix],
            [o.brand_normalised for o in qo],
            [o.brand_normalised for o in io],
            [o.text_normalised for o in qo],
            [o.text_normalised for o in io],
        )
        relevant = ml_evaluation.relevant_positions(
            query_product_ids=[labels[i] for i in q],
            index_product_ids=[pool_labels[i] for i in ix],
        )
        for row, rel, sim in zip(result.indices, relevant, result.similarities, strict=True):
            sims.append(float(sim[0]) if row[0] >= 0 else float("-inf"))
            correct1.append(int(row[0]) in rel)
            correctk.append(any(int(i) in rel for i in row if i >= 0))
            has_match.append(bool(rel))
    return fit_calibration_lists(
        sims=sims,
        correct1=correct1,
        correctk=correctk,
        has_match=has_match,
        config=config,
        setup={
            "match_config": config.to_dict(),
            "n_offers": len(offers),
            "n_distractors": len(distractors),
            "retrieval": "each training shop's held-out offers vs all the other shops' offers",
        },
    )


def fit_calibration_lists(
    *,
    sims: Sequence[float],
    correct1: Sequence[bool],
    correctk: Sequence[bool],
    has_match: Sequence[bool],
    config: MatchConfig,
    setup: dict,
) -> tuple[ml_calibration.Calibration | None, str]:
    """The calibration of held-out top-1 scores (one per query), or None and why not."""
    if len(sims) < ml_calibration.MIN_CALIBRATION_QUERIES:
        return None, f"not calibrated: {len(sims)} held-out queries (too few)"
    if not any(correct1):
        return None, "not calibrated: no held-out query found its true match"
    calibration = ml_calibration.fit_calibration(
        top1_similarity=sims,
        top1_correct=correct1,
        topk_correct=correctk,
        has_match=has_match,
        k=config.k,
        setup=setup,
    )
    curve = ml_evaluation.thin_curve(calibration.pr_curve)
    calibration = ml_calibration.Calibration(
        top1=calibration.top1,
        topk=calibration.topk,
        k=calibration.k,
        metrics=calibration.metrics,
        pr_curve=curve,
        setup=calibration.setup,
    )
    return calibration, f"calibrated on {len(sims)} held-out queries"
