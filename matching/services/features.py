"""ORM rows -> feature arrays, for training and for matching.

* ``image``: mean of the offer's L2-normalised image embeddings (zero for an offer without
  images), ``text``: the embedding of ``Offer.text_normalised``, ``numeric``:
  ``[n_sizes, log n_sizes, log price]`` imputed and standardised by a ``NumericScaler`` plus two
  missing-value flags.
* a trained model: ``assemble_features`` (blocks L2-normalised, numeric / sqrt(5)) -> head.
* ``raw`` (no model): the same concatenation, L2-normalised again. The numeric scaler of a raw
  run is fitted on the run's own query + index offers (no labels are read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matching import embedding_store as store
from matching.ml import features as ml_features
from matching.ml import projection as ml_projection
from matching.models import Encoder, Offer

OFFER_FIELDS = (
    "pk",
    "content_hash",
    "brand",
    "brand_normalised",
    "category",
    "product_id",
    "price",
    "sizes",
    "shop_id",
    "text_normalised",
)


@dataclass
class Blocks:
    """Raw feature blocks of a list of offers, in its order."""

    image: np.ndarray | None = None
    text: np.ndarray | None = None
    numeric_raw: np.ndarray | None = None
    has_image: np.ndarray | None = None


def offer_rows(qs) -> list[Offer]:
    """The offers of a queryset with only the fields features and evaluation read: named
    tuples with those attributes (``pk``, ``brand`` ...), not model objects, which cost ~30x
    more to build at the paper's 532k offers."""
    return list(qs.values_list(*OFFER_FIELDS, named=True))


def resolve_encoders(
    features: Sequence[str], image_spec: str | None, text_spec: str | None
) -> tuple[Encoder | None, Encoder | None]:
    """The Encoder rows the features need; EncoderNotFound when one was never run."""
    image = store.find_encoder(kind="image", spec=image_spec) if "image" in features else None
    text = store.find_encoder(kind="text", spec=text_spec) if "text" in features else None
    for needed, row, spec in (("image", image, image_spec), ("text", text, text_spec)):
        if needed in features and row is None:
            raise store.EncoderNotFound(
                f"no {needed} embeddings for {spec!r} yet; run `python manage.py encode`"
            )
    return image, text


def load_blocks(
    offers: list[Offer],
    features: Sequence[str],
    *,
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
) -> Blocks:
    blocks = Blocks()
    if "image" in features:
        if image_encoder is None:
            raise ValueError("image features need an image encoder (run `manage.py encode`)")
        blocks.image, blocks.has_image = store.load_embeddings(
            offers=offers, encoder=image_encoder, with_mask=True
        )
    if "text" in features:
        if text_encoder is None:
            raise ValueError("text features need a text encoder (run `manage.py encode`)")
        blocks.text = store.load_embeddings(offers=offers, encoder=text_encoder)
    if "numeric" in features:
        blocks.numeric_raw = numeric_raw(offers)
    return blocks


def numeric_raw(offers: Sequence[Offer]) -> np.ndarray:
    return ml_features.numeric_matrix(offers)


def assemble(
    blocks: Blocks, features: Sequence[str], scaler: ml_features.NumericScaler | None
) -> np.ndarray:
    numeric = None
    if "numeric" in features:
        assert scaler is not None and blocks.numeric_raw is not None
        numeric = scaler.transform(blocks.numeric_raw)
    return ml_projection.assemble_features(
        image=blocks.image, text=blocks.text, numeric=numeric, features=list(features)
    )


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def vectors(
    offers: list[Offer],
    *,
    features: Sequence[str],
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
    scaler: ml_features.NumericScaler | None,
    head: ml_projection.ProjectionHead | None,
) -> np.ndarray:
    """The vectors a match compares: projected by ``head``, or raw and L2-normalised."""
    blocks = load_blocks(offers, features, image_encoder=image_encoder, text_encoder=text_encoder)
    return project(blocks, features=features, scaler=scaler, head=head)


def raw_vectors(
    offers: list[Offer],
    *,
    features: Sequence[str],
    image_encoder: Encoder | None,
    text_encoder: Encoder | None,
    scaler: ml_features.NumericScaler | None,
    l2_rows: bool = True,
) -> np.ndarray:
    """The vectors of a raw run (no model), built in one float32 array: each block is loaded
    straight into its columns and normalised there (the same values as :func:`project` with
    ``head=None``, without the copies of the blocks, their normalised copies and the
    concatenation: at the paper's 532k offers x 896 dims each copy is ~1.9 GB).
    ``l2_rows=False``: the rows are not normalised again, i.e. :func:`assemble`'s features, the
    input of a projection head."""
    encoders = {"image": image_encoder, "text": text_encoder}
    widths = []
    for name in ml_features.FEATURE_BLOCKS:
        if name not in features:
            continue
        if name in encoders:
            if encoders[name] is None:
                raise ValueError(f"{name} features need a {name} encoder (run `manage.py encode`)")
            widths.append((name, encoders[name].dim))
        else:
            widths.append((name, len(ml_features.NUMERIC_COLUMNS)))
    x = np.empty((len(offers), sum(w for _, w in widths)), dtype=np.float32)
    start = 0
    for name, width in widths:
        part = x[:, start : start + width]
        start += width
        if name == "numeric":
            assert scaler is not None
            part[:] = scaler.transform(numeric_raw(offers))
            part /= np.float32(np.sqrt(max(width, 1)))
            continue
        store.load_embeddings(offers=offers, encoder=encoders[name], out=part)
        _l2_in_place(part)
    if l2_rows:
        _l2_in_place(x)
    return x


def _l2_in_place(x: np.ndarray, rows: int = 65_536) -> None:
    """Divide each row of ``x`` by its norm (rows of zeros stay zero), in place, in slices."""
    for s in range(0, len(x), rows):
        part = x[s : s + rows]
        norms = np.sqrt(np.einsum("ij,ij->i", part, part))
        part /= np.maximum(norms, 1e-12)[:, None]


def project(
    blocks: Blocks,
    *,
    features: Sequence[str],
    scaler: ml_features.NumericScaler | None,
    head: ml_projection.ProjectionHead | None,
) -> np.ndarray:
    """The vectors of loaded blocks: projected by ``head``, or raw and L2-normalised."""
    x = assemble(blocks, features, scaler)
    if head is None:
        return _l2(x)
    return head.project(x)
