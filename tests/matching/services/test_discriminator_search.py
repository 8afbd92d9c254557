"""The discriminator's match search (one TF-IDF shared by the search and the pair features,
the vectorised features) gives what the search, the reference pair features and the same
classifier gave before: same candidates, same probabilities."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from matching.ml import discriminator as ml_disc
from matching.ml.match_config import MatchConfig
from matching.ml.pair_features import Side
from matching.services import discriminator as disc_service

REFERENCE = Path(__file__).parents[1] / "ml" / "discriminator_reference.py"


def _reference():
    name = "discriminator_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REFERENCE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _sides(rng, n=80):
    brands = ["acme", "zebra", "Acme Corp", ""]
    words = ["phone", "case", "black", "kx-100", "kx100", "lamp", "elp-lp12", "shirt", "blue"]
    titles = [
        " ".join(words[j] for j in rng.integers(0, len(words), 4)) + f" m{i % 40}" for i in range(n)
    ]

    def side(texts, vectors):
        return Side(
            vectors=vectors,
            texts=texts,
            brand_keys=[brands[i % len(brands)] for i in range(len(texts))],
            prices=[float(10 + i % 7) for i in range(len(texts))],
            sizes=[("S",) if i % 2 else () for i in range(len(texts))],
            categories=["Phones" if i % 3 else "" for i in range(len(texts))],
            text=vectors,
        )

    v = rng.normal(size=(n, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    w = v + 0.3 * rng.normal(size=v.shape).astype(np.float32)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return side(titles, v), side([t.upper() for t in titles], w)


@pytest.mark.parametrize("text_weight", [0.0, 0.5])
@pytest.mark.parametrize("rerank", [True, False])
def test_search_is_unchanged(text_weight, rerank) -> None:
    ref = _reference()
    rng = np.random.default_rng(0)
    query, index = _sides(rng)
    config = MatchConfig(text_weight=text_weight, discriminator_rerank=rerank)
    # a stacked discriminator fitted on the reference features of these very lists
    short = disc_service.shortlists(config, query, index)  # the search fits its own TF-IDF
    x, q_pos, k_pos = ref.pair_features(
        query=query, index=index, cand_idx=short.indices, cand_score=short.similarities
    )
    y = short.indices[q_pos, k_pos] % 40 == q_pos % 40  # the same model number
    disc, note, _ = ml_disc.fit_stacked(x, y, groups=q_pos % 40, list_ids=q_pos, seed=0)
    assert disc is not None, note
    prob = ml_disc.scatter(short.indices.shape, q_pos, k_pos, disc.predict(x, list_ids=q_pos))
    expected = disc_service.rank(config, short.indices, prob, short.cosines, short.similarities)

    timings: dict[str, float] = {}
    got = disc_service.search(disc, config, query, index, timings=timings)
    np.testing.assert_array_equal(got.indices, expected[0])
    np.testing.assert_array_equal(got.similarities, expected[1])
    np.testing.assert_array_equal(got.cosines, expected[2])
    assert {"tfidf_fit", "shortlist", "tfidf", "title", "predict", "rank"} <= set(timings)
