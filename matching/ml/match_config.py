"""How a match run scores: the one declaration of the match parameters and their defaults.

The `match` command, the match job, the benchmark and the demo all build a :class:`MatchConfig`
(from the command line with :func:`matching.management.commands._matching_args`, or from a
dict) and pass it whole to the matching service, which passes it to
:func:`matching.ml.retrieval.search` and stores ``to_dict()`` with the run. Changing a default
here changes it everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

INDEX_TYPES = ("flat", "ivf", "hnsw")
UNBRANDED_INDEXES = ("flat", "ivf", "ivf_all")
#: Fields that choose how exactly the search runs, not how it scores: an approximate index only
#: loses neighbours (routing does not compare them with a calibration's config).
SEARCH_ONLY_FIELDS = ("index_type", "unbranded_index", "ivf_min_comparisons", "ivf_nprobe")
RESCORE_MODES = ("none", "csls")
FEATURE_BLOCKS = ("image", "text", "numeric")

#: TF-IDF weight for text-only features, where exact tokens (model numbers) matter.
TEXT_ONLY_TEXT_WEIGHT = 0.5
#: TF-IDF weight when images are used: different products often share a near-identical title.
IMAGE_TEXT_WEIGHT = 0.0


def text_weight_for(features: Sequence[str]) -> float:
    """The default TF-IDF weight for a feature set (see the module constants)."""
    return IMAGE_TEXT_WEIGHT if "image" in features else TEXT_ONLY_TEXT_WEIGHT


@dataclass(frozen=True)
class MatchConfig:
    """Scoring and search parameters of a match run.

    ``k``: candidates kept per query. ``brand_threshold``: rapidfuzz token-set ratio (0-100) for
    brand blocking, None disables blocking. ``index_type``: exact ``flat`` or approximate
    ``ivf`` / ``hnsw`` for very large blocks. ``one_to_one``: greedy assignment of rank 1 (an
    index offer is the top-1 of at most one query of a shop). ``text_weight``: TF-IDF
    similarity mixed into the cosine; None means :func:`text_weight_for` the run's features.
    ``rescore``: ``none`` or ``csls``. ``shortlist``: neighbours per query considered by the
    rescoring steps. ``csls_k``: neighbourhood size of CSLS. ``unassigned_penalty``: score drop
    of a query whose candidates were all taken by better-scoring queries (on the cosine scale;
    with the discriminator's probabilities any positive value means a drop of 1, below every
    assigned query). ``discriminator``:
    rescore the shortlist with the model's pair discriminator (:mod:`matching.ml.discriminator`)
    when the model has one; its probability becomes the score (off, or no discriminator: the
    search score). ``discriminator_rerank``: order the shortlist by that probability (else the
    search's order and one-to-one assignment stay and only the scores are the probabilities).
    ``unbranded_index``: how a blocked search compares unbranded offers: ``flat`` exact (the
    default); ``ivf`` (:mod:`matching.ml.ivf_search`) the branded queries with the unbranded
    index offers
    (one search) when it makes at least ``ivf_min_comparisons`` query x offer pairs and has
    enough queries per list, visiting ``ivf_nprobe`` lists per query; ``ivf_all`` also the
    unbranded queries with the whole index. Both lose true matches whose brand is missing on
    one side (bench/ivf_recall.py on bench/match_scale.py's synthetic vectors; at 442k x 90k
    ``ivf_all`` took R@1 from 0.943 to 0.902), hence exact by default. Brand blocks stay exact.
    """

    k: int = 3
    brand_threshold: float | None = 80.0
    index_type: str = "flat"
    one_to_one: bool = True
    text_weight: float | None = None
    rescore: str = "none"
    shortlist: int = 50
    csls_k: int = 10
    unassigned_penalty: float = 0.5
    discriminator: bool = True
    discriminator_rerank: bool = True
    unbranded_index: str = "flat"
    ivf_min_comparisons: int = 200_000_000
    ivf_nprobe: int = 8

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.brand_threshold is not None and not 0 <= self.brand_threshold <= 100:
            raise ValueError(
                f"brand_threshold must be in [0, 100] or None, got {self.brand_threshold}"
            )
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, got {self.index_type!r}")
        if self.rescore not in RESCORE_MODES:
            raise ValueError(f"rescore must be one of {RESCORE_MODES}, got {self.rescore!r}")
        if self.text_weight is not None and not 0 <= self.text_weight <= 1:
            raise ValueError(f"text_weight must be in [0, 1], got {self.text_weight}")
        if self.unbranded_index not in UNBRANDED_INDEXES:
            raise ValueError(
                f"unbranded_index must be one of {UNBRANDED_INDEXES}, got {self.unbranded_index!r}"
            )
        if self.ivf_min_comparisons < 1 or self.ivf_nprobe < 1:
            raise ValueError("ivf_min_comparisons and ivf_nprobe must be >= 1")
        if self.shortlist < 1 or self.csls_k < 1:
            raise ValueError("shortlist and csls_k must be >= 1")

    def resolved(self, features: Sequence[str]) -> MatchConfig:
        """This config with ``text_weight`` filled in for ``features``."""
        if self.text_weight is not None:
            return self
        return replace(self, text_weight=text_weight_for(features))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> MatchConfig:
        """A config from a (possibly partial) dict; unknown keys are an error."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown match parameter(s): {', '.join(unknown)}")
        return cls(**values)
