"""The pair discriminator: a second stage that scores each (query, candidate) pair of a
shortlist with a gradient-boosted classifier on :mod:`matching.ml.pair_features` (no Django).

Training data are shortlists of offers the projection did not see (the calibration split of
:func:`matching.ml.calibration.holdout_split`), so the cosines look like those of new offers.
Every query whose true match is in its shortlist is used twice: as it is, and with its true
match(es) removed (:func:`without_true_matches`), so the classifier also sees what the best
candidate of a query WITHOUT a match looks like (most production queries). The probability
of the classifier (log-loss, i.e. a calibrated probability on data like its training data)
replaces the search score; :func:`out_of_fold` gives the same probabilities for the training
lists without leakage (grouped by query product), on which the model's calibration is fit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .list_features import LIST_FEATURE_NAMES, list_features
from .pair_features import FEATURE_NAMES
from .stage_timer import timed

#: Candidates per query the discriminator rescores (the search's shortlist width).
DISCRIMINATOR_WIDTH = 10
#: Fewest positive / negative training pairs to fit one.
MIN_PAIRS_PER_CLASS = 20
FOLDS = 5


#: +1: the probability may only rise with the feature, -1: only fall (a strong regulariser on
#: a few hundred positive pairs: more similar never means less likely).
MONOTONIC = {
    "score": 1,
    "cosine": 1,
    "image_cosine": 1,
    "text_cosine": 1,
    "tfidf": 1,
    "brand": 1,
    "log_price_ratio": -1,
    "size_overlap": 1,
    "code_overlap": 1,
    "code_conflict": -1,
    "gap_to_best": -1,
    "tfidf_gap_to_best": -1,
    "reciprocal_gap": 1,
    "code_in_candidate": 1,
    "code_in_query": 1,
    "longest_code_found": 1,
    "words_in_candidate": 1,
    "words_in_query": 1,
    "stage1": 1,
    "stage1_margin_other": 1,
    "stage1_gap_to_best": -1,
}
#: threads of the classifier (OpenMP): 1, so it never oversubscribes a busy machine
THREADS = 1


def _classifier(seed: int, names: Sequence[str]):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=8,
        min_samples_leaf=40,
        l2_regularization=1.0,
        monotonic_cst=[MONOTONIC.get(name, 0) for name in names],
        early_stopping=False,
        random_state=seed,
    )


def _limited():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=THREADS)


@dataclass
class Discriminator:
    """A fitted classifier and what it was fitted on (``info``: JSON-ready)."""

    classifier: object
    feature_names: tuple[str, ...] = FEATURE_NAMES
    info: dict = field(default_factory=dict)
    #: the columns the classifier reads (columns without any value at fit time are dropped)
    used: tuple[int, ...] | None = None
    #: stacked: the first-stage classifier (on ``used``); ``classifier`` then reads ``used`` +
    #: :func:`~matching.ml.list_features.list_features` of its probabilities
    first: object | None = None

    def predict(
        self,
        x: np.ndarray,
        list_ids: np.ndarray | None = None,
        *,
        timings: dict[str, float] | None = None,
    ) -> np.ndarray:
        """P(same product) of every pair row (float32). ``x``: columns :data:`FEATURE_NAMES`
        (today's) or this model's ``feature_names`` (a model fitted before features were
        added reads its own columns by name); ``list_ids``: the shortlist (query) of every
        row, needed by a stacked discriminator; ``timings``: seconds per stage added to it."""
        if x.shape[1] == len(FEATURE_NAMES) and self.feature_names != FEATURE_NAMES:
            missing = sorted(set(self.feature_names) - set(FEATURE_NAMES))
            if missing:
                raise ValueError(f"discriminator needs unknown features {missing}")
            x = x[:, [FEATURE_NAMES.index(name) for name in self.feature_names]]
        if x.shape[1] != len(self.feature_names):
            raise ValueError(
                f"discriminator expects {len(self.feature_names)} features, got {x.shape[1]}"
            )
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        x = x if self.used is None else x[:, list(self.used)]
        with _limited():
            if self.first is None:
                with timed(timings, "predict"):
                    return self.classifier.predict_proba(x)[:, 1].astype(np.float32)
            if list_ids is None or len(list_ids) != len(x):
                raise ValueError("a stacked discriminator needs the shortlist of every pair")
            with timed(timings, "predict"):
                p1 = self.first.predict_proba(x)[:, 1]
            with timed(timings, "list_features"):
                z = np.column_stack([x, list_features(list_ids, p1)])
            with timed(timings, "predict_stacked"):
                return self.classifier.predict_proba(z)[:, 1].astype(np.float32)

    def save(self, path: Path) -> None:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "classifier": self.classifier,
                "feature_names": self.feature_names,
                "info": self.info,
                "used": self.used,
                "first": self.first,
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> Discriminator:
        import joblib

        data = joblib.load(path)
        return cls(
            classifier=data["classifier"],
            feature_names=tuple(data["feature_names"]),
            info=data.get("info", {}),
            used=data.get("used"),
            first=data.get("first"),
        )


def product_folds(product_ids: Sequence, *, folds: int, seed: int) -> list[np.ndarray]:
    """Offer positions of ``folds`` disjoint folds covering every offer: each product (a lone
    offer is its own) lies in exactly one fold with ALL its offers, drawn at random (``seed``),
    product counts as even as possible. For out-of-fold discriminator training: a projection
    trained without fold f gives fold f's offers the cosines of new offers."""
    from .grouping import group_by_product

    if folds < 2:
        raise ValueError("out-of-fold training needs at least 2 folds")
    units = group_by_product(product_ids)
    if len(units) < folds:
        raise ValueError(f"{len(units)} products cannot fill {folds} folds")
    order = np.random.default_rng(seed).permutation(len(units))
    return [
        np.sort(np.concatenate([units[u] for u in order[f::folds]])).astype(np.int64)
        for f in range(folds)
    ]


def used_columns(x: np.ndarray) -> tuple[int, ...]:
    """Columns with at least one value (an all-NaN column cannot be binned)."""
    return tuple(int(i) for i in np.nonzero(~np.isnan(x).all(axis=0))[0])


def fit_discriminator(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, names: Sequence[str] = FEATURE_NAMES
) -> tuple[Discriminator | None, str]:
    """Fit on pair rows ``x`` (columns ``names``) with labels ``y``; (None, why) when there
    are too few pairs."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos < MIN_PAIRS_PER_CLASS or n_neg < MIN_PAIRS_PER_CLASS:
        return None, f"no discriminator: {n_pos} positive / {n_neg} negative pairs (too few)"
    started = time.perf_counter()
    used = used_columns(x)
    with _limited():
        classifier = _classifier(seed, [names[i] for i in used]).fit(x[:, list(used)], y)
    info = {
        "n_pairs": len(y),
        "n_positive": n_pos,
        "features": [names[i] for i in used],
        "seconds_fit": time.perf_counter() - started,
    }
    discriminator = Discriminator(
        classifier=classifier, feature_names=tuple(names), info=info, used=used
    )
    return discriminator, f"fitted on {len(y)} pairs ({n_pos} positive)"


def fit_stacked(
    x: np.ndarray,
    y: np.ndarray,
    *,
    groups: Sequence,
    list_ids: np.ndarray,
    seed: int = 0,
    names: Sequence[str] = FEATURE_NAMES,
) -> tuple[Discriminator | None, str, np.ndarray | None]:
    """The stacked discriminator (see :mod:`matching.ml.list_features`): a first classifier on
    the pair features; the second is fitted on them plus the list features of the first's
    OUT-OF-FOLD probabilities (grouped by ``groups``), so it learns from probabilities like
    those of new pairs. ``names``: the columns of ``x``. Returns (discriminator or None, note,
    out-of-fold probabilities of the whole stack for the calibration, or None)."""
    first, note = fit_discriminator(x, y, seed=seed, names=names)
    if first is None:
        return None, note, None
    used = first.used
    p1 = out_of_fold(x, y, groups, seed=seed, names=names)
    names = [*(names[i] for i in used), *LIST_FEATURE_NAMES]
    z = np.column_stack([x[:, list(used)], list_features(list_ids, p1)])
    started = time.perf_counter()
    with _limited():
        second = _classifier(seed, names).fit(z, np.asarray(y, dtype=bool))
    oof = out_of_fold(z, y, groups, seed=seed, names=names)
    first.info["seconds_fit"] += time.perf_counter() - started
    first.info["stacked"] = True
    discriminator = Discriminator(
        classifier=second,
        feature_names=first.feature_names,
        info=first.info,
        used=used,
        first=first.classifier,
    )
    return discriminator, f"{note}, stacked", oof


def out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence,
    *,
    seed: int = 0,
    folds: int = FOLDS,
    names: Sequence[str] = FEATURE_NAMES,
) -> np.ndarray:
    """P(same product) of every row from a classifier that never saw its group (GroupKFold);
    ``names``: the columns of ``x`` (for the monotonic constraints)."""
    from sklearn.model_selection import GroupKFold

    y = np.asarray(y, dtype=bool)
    used = used_columns(x)
    names = [names[i] for i in used]
    x = x[:, list(used)]
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    out = np.full(len(y), np.nan, dtype=np.float32)
    for train, test in GroupKFold(n_splits=min(folds, n_groups)).split(x, y, groups):
        if y[train].all() or not y[train].any():
            out[test] = float(y[train].mean())
            continue
        with _limited():
            model = _classifier(seed, names).fit(x[train], y[train])
            out[test] = model.predict_proba(x[test])[:, 1]
    return out


def without_true_matches(
    cand_idx: np.ndarray, cand_score: np.ndarray, is_true: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shortlists of the queries that have a true candidate, with those candidates removed
    and the rest moved up: ``(rows, idx, score)`` (rows: which queries)."""
    is_true = np.asarray(is_true, dtype=bool) & (cand_idx >= 0)
    rows = np.nonzero(is_true.any(axis=1))[0]
    idx = np.full((len(rows), cand_idx.shape[1]), -1, dtype=np.int64)
    score = np.full(idx.shape, -np.inf, dtype=np.float32)
    for n, r in enumerate(rows):
        keep = (cand_idx[r] >= 0) & ~is_true[r]
        m = int(keep.sum())
        idx[n, :m] = cand_idx[r][keep]
        score[n, :m] = cand_score[r][keep]
    return rows, idx, score


def scatter(
    shape: tuple[int, int], q_pos: np.ndarray, k_pos: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """Pair values back into a (nq, K) matrix, -inf where there is no pair."""
    out = np.full(shape, -np.inf, dtype=np.float32)
    out[q_pos, k_pos] = values
    return out
