import numpy as np

from matching.ml import one_to_one
from matching.ml.one_to_one import final_ranking, greedy_one_to_one


def test_greedy_one_to_one_hand_example() -> None:
    # query 0 and 1 both prefer item 7; query 1 is closer, so query 0 falls back to item 8;
    # query 2's only candidate (7) is taken: unassigned.
    candidates = np.array([[7, 8], [7, 9], [7, -1]])
    scores = np.array([[0.9, 0.6], [0.95, 0.1], [0.5, -np.inf]])
    np.testing.assert_array_equal(greedy_one_to_one(scores, candidates), [1, 0, -1])
    # a chain: greedy order, not "first proposer wins"
    candidates = np.array([[1, 2], [2, 3], [3, 1]])
    scores = np.array([[0.9, 0.8], [0.85, 0.1], [0.7, 0.2]])
    np.testing.assert_array_equal(greedy_one_to_one(scores, candidates), [0, 0, 0])
    assert (greedy_one_to_one(np.full((2, 2), -np.inf), np.full((2, 2), -1)) == -1).all()


def test_greedy_one_to_one_rounds_and_sequential_agree(monkeypatch) -> None:
    rng = np.random.default_rng(5)
    scores = rng.random((300, 8))
    candidates = np.stack([rng.choice(60, size=8, replace=False) for _ in range(300)])
    fast = greedy_one_to_one(scores, candidates)
    monkeypatch.setattr(one_to_one, "MAX_MUTUAL_ROUNDS", 0)
    slow = greedy_one_to_one(scores, candidates)
    np.testing.assert_array_equal(fast, slow)
    items = candidates[np.arange(300), np.maximum(fast, 0)][fast >= 0]
    assert len(items) == len(set(items.tolist())) == 60


def test_final_ranking_moves_the_assigned_candidate_first_and_penalises() -> None:
    idx = np.array([[0, 1, -1], [0, 2, 1], [0, -1, -1]])
    score = np.array([[0.9, 0.8, -np.inf], [0.95, 0.3, 0.2], [0.5, -np.inf, -np.inf]])
    cos = score.astype(np.float32)
    out_idx, out_sim, out_cos = final_ranking(
        idx, score.astype(np.float32), cos, k=2, one_to_one=True, penalty=0.5
    )
    # query 1 takes item 0 (0.95); query 0 falls back to item 1; query 2 keeps item 0, penalised
    np.testing.assert_array_equal(out_idx, [[1, 0], [0, 2], [0, -1]])
    np.testing.assert_allclose(out_sim[0], [0.8, 0.8])  # capped at the rank-1 score
    np.testing.assert_allclose(out_cos[0], [0.8, 0.9])
    np.testing.assert_allclose(out_sim[2, 0], 0.0)
    assert np.isneginf(out_sim[2, 1])
    plain_idx, plain_sim, _ = final_ranking(
        idx, score.astype(np.float32), cos, k=4, one_to_one=False, penalty=0.5
    )
    np.testing.assert_array_equal(plain_idx[:, 0], [0, 0, 0])
    assert plain_idx.shape == (3, 4) and (plain_idx[:, 3] == -1).all()
    np.testing.assert_allclose(plain_sim[1, :3], [0.95, 0.3, 0.2], rtol=1e-6)
