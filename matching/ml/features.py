"""Offer features: text normalisation, numeric vector, image-set pooling, feature-set names."""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from matching.ml.match_config import FEATURE_BLOCKS

_WHITESPACE = re.compile(r"\s+")

DEFAULT_FEATURES = FEATURE_BLOCKS

NUMERIC_RAW_COLUMNS = ("n_sizes", "log_n_sizes", "log_price")
NUMERIC_COLUMNS = (*NUMERIC_RAW_COLUMNS, "sizes_missing", "price_missing")


def _nfkc_collapse(text: str | None) -> str:
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()


def normalise_text(brand: str | None, title: str | None) -> str:
    """Text fed to the text tower: NFKC, collapsed whitespace, ``"brand title"``.

    Minimal preprocessing as in the paper: no case folding, no de-duplication of a brand that the
    title repeats, no stop words; empty parts are left out.
    """
    parts = [_nfkc_collapse(brand), _nfkc_collapse(title)]
    return " ".join(p for p in parts if p)


def numeric_vector(*, sizes: Sequence[str] | None, price: float | None) -> np.ndarray:
    """Raw ``[n_sizes, log(n_sizes), log(price)]`` (float64) with NaN for missing values.

    No sizes (``None`` or empty list) means unknown, not zero; a price that is missing,
    non-finite or ``<= 0`` is missing.
    """
    n = len(sizes) if sizes else 0
    sizes_part = [float(n), math.log(n)] if n > 0 else [math.nan, math.nan]
    ok_price = price is not None and math.isfinite(float(price)) and float(price) > 0
    log_price = math.log(float(price)) if ok_price else math.nan
    return np.array([*sizes_part, log_price], dtype=np.float64)


def numeric_matrix(items: Sequence) -> np.ndarray:
    """:func:`numeric_vector` of every item with ``.sizes`` and ``.price`` (offers, catalogue
    rows), stacked (n, 3); (0, 3) for none."""
    rows = [
        numeric_vector(
            sizes=item.sizes or None, price=float(item.price) if item.price is not None else None
        )
        for item in items
    ]
    return np.stack(rows) if rows else np.zeros((0, len(NUMERIC_RAW_COLUMNS)))


@dataclass
class NumericScaler:
    """Turns raw numeric vectors (n, 3) into model inputs (n, 5).

    Fitted on training rows only. Per raw column: missing values (NaN) are replaced by the
    training median (0 if the column is all missing), then standardised with the training mean
    and std of the imputed column (std 0 -> 1). Two 0/1 flag columns are appended, not
    standardised: ``sizes_missing`` (n_sizes was NaN) and ``price_missing`` (log_price was NaN).
    Output columns: ``NUMERIC_COLUMNS``.
    """

    median: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, raw: np.ndarray) -> NumericScaler:
        raw = _check_raw(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN median
            median = np.nanmedian(raw, axis=0) if len(raw) else np.zeros(raw.shape[1])
        median = np.where(np.isfinite(median), median, 0.0)
        imputed = np.where(np.isnan(raw), median, raw)
        mean = imputed.mean(axis=0) if len(raw) else np.zeros(raw.shape[1])
        std = imputed.std(axis=0) if len(raw) else np.ones(raw.shape[1])
        std = np.where(std > 0, std, 1.0)
        return cls(median=median.tolist(), mean=mean.tolist(), std=std.tolist())

    def transform(self, raw: np.ndarray) -> np.ndarray:
        raw = _check_raw(raw)
        missing = np.isnan(raw)
        imputed = np.where(missing, np.asarray(self.median), raw)
        scaled = (imputed - np.asarray(self.mean)) / np.asarray(self.std)
        flags = np.stack([missing[:, 0], missing[:, 2]], axis=1).astype(np.float64)
        return np.concatenate([scaled, flags], axis=1).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"median": list(self.median), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> NumericScaler:
        return cls(
            median=[float(x) for x in data["median"]],
            mean=[float(x) for x in data["mean"]],
            std=[float(x) for x in data["std"]],
        )


def _check_raw(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(NUMERIC_RAW_COLUMNS):
        raise ValueError(f"expected raw numeric array of shape (n, {len(NUMERIC_RAW_COLUMNS)})")
    return raw


class ImagePool:
    """Running mean of the L2-normalised image embeddings of each offer (float64 sums).

    Images are added in any order and in batches (:meth:`add`); :meth:`result` gives
    ``(pooled (n_offers, d) float32, has_image (n_offers,) bool)``: offers without images get a
    zero vector and ``has_image=False``. The pooled mean is not re-normalised.
    """

    def __init__(self, *, n_offers: int, dim: int) -> None:
        self.sums = torch.zeros((n_offers, dim), dtype=torch.float64)
        self.counts = torch.zeros(n_offers, dtype=torch.int64)

    def add(self, *, embeddings: np.ndarray | torch.Tensor, offer_index: np.ndarray) -> None:
        """Add raw (not normalised) ``embeddings`` (n, d) of images of offers ``offer_index``."""
        emb = torch.as_tensor(np.asarray(embeddings)).double()
        rows = torch.as_tensor(np.asarray(offer_index, dtype=np.int64))
        if not len(rows):
            return
        unit = torch.nn.functional.normalize(emb, dim=1, eps=1e-12)
        self.sums.index_add_(0, rows, unit)
        self.counts.index_add_(0, rows, torch.ones(len(rows), dtype=torch.int64))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        pooled = self.sums / self.counts.clamp(min=1)[:, None]
        return pooled.float().numpy(), (self.counts > 0).numpy()


def pool_image_embeddings(
    *, embeddings: np.ndarray, offer_index: np.ndarray, n_offers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average the L2-normalised image embeddings of each offer (:class:`ImagePool` at once).

    ``embeddings`` (n_images, d), ``offer_index`` (n_images,) the offer row of each image.
    Returns ``(pooled (n_offers, d) float32, has_image (n_offers,) bool)``; offers without images
    get a zero vector and ``has_image=False``. The pooled mean is not re-normalised.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    pool = ImagePool(n_offers=n_offers, dim=emb.shape[1] if emb.ndim == 2 else 0)
    pool.add(embeddings=emb, offer_index=offer_index)
    return pool.result()


def parse_features(
    value: str | Sequence[str] | None, default: Sequence[str] = DEFAULT_FEATURES
) -> tuple[str, ...]:
    """ "image+text" / "image,text" / ["image", "text"] -> canonical ordered tuple."""
    if value is None or value == "":
        return tuple(default)
    items = value.replace("+", ",").split(",") if isinstance(value, str) else list(value)
    chosen = {item.strip() for item in items if item.strip()}
    unknown = chosen - set(FEATURE_BLOCKS)
    if unknown or not chosen:
        raise ValueError(f"features must be among {', '.join(FEATURE_BLOCKS)}; got {value!r}")
    return tuple(b for b in FEATURE_BLOCKS if b in chosen)


def features_name(features: Sequence[str]) -> str:
    """("image", "text") -> "image+text" (as stored on models and runs)."""
    return "+".join(features)
