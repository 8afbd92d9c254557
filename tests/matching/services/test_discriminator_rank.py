import numpy as np

from matching.ml.match_config import MatchConfig
from matching.services.discriminator import rank

CAND = np.array([[0, 1, 2], [0, 2, -1]])
SCORE = np.array([[0.9, 0.8, 0.1], [0.95, 0.5, -np.inf]], dtype=np.float32)
COS = SCORE.copy()
PROB = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, -np.inf]], dtype=np.float32)


def test_rerank_orders_by_probability():
    config = MatchConfig(k=2, one_to_one=False)
    idx, sims, _ = rank(config, CAND, PROB, COS, SCORE)
    assert idx.tolist() == [[1, 0], [0, 2]]
    np.testing.assert_allclose(sims, [[0.7, 0.2], [0.6, 0.3]])


def test_without_rerank_the_search_order_stays_and_scores_are_probabilities():
    config = MatchConfig(k=2, one_to_one=True, discriminator_rerank=False, unassigned_penalty=0.5)
    idx, sims, cos = rank(config, CAND, PROB, COS, SCORE)
    # query 1 takes index 0 (0.95 > 0.9); query 0 gets index 1 by one-to-one assignment
    assert idx.tolist() == [[1, 0], [0, 2]]
    np.testing.assert_allclose(sims[1], [0.6, 0.3])
    np.testing.assert_allclose(cos[0], [0.8, 0.9])
    # query 0's rank 2 is capped by its rank-1 probability; it was assigned (no penalty)
    np.testing.assert_allclose(sims[0], [0.7, 0.2])


def test_an_unassigned_query_ranks_below_every_assigned_one():
    """Both queries want index 0; query 1 takes it (0.9 > 0.8). Query 0 is left unassigned:
    whatever its probability, its score falls below every assigned query's (one run never
    auto-accepts two queries to one index offer at any threshold above 0)."""
    cand = np.array([[0, -1], [0, 1]])
    prob = np.array([[0.8, -np.inf], [0.9, 0.05]], dtype=np.float32)
    for rerank in (True, False):
        config = MatchConfig(k=2, one_to_one=True, discriminator_rerank=rerank)
        idx, sims, _ = rank(config, cand, prob, prob.copy(), prob.copy())
        assert idx[0, 0] == 0 and idx[1, 0] == 0
        assert sims[1, 0] == np.float32(0.9)
        assert sims[0, 0] <= 0.0 < 0.05
        np.testing.assert_allclose(sims[0, 0], 0.8 - 1.0, rtol=1e-6)
    # with the penalty off the probability is kept
    off = MatchConfig(k=2, one_to_one=True, unassigned_penalty=0.0)
    _, sims, _ = rank(off, cand, prob, prob.copy(), prob.copy())
    np.testing.assert_allclose(sims[0, 0], 0.8)
