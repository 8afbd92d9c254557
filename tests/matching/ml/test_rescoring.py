import numpy as np

from matching.ml.rescoring import csls_rescore, neighbourhood_mean, top_k_rows


def test_csls_rescore_hand_computed() -> None:
    scores = np.array([[0.9, 0.5], [0.8, 0.2]], dtype=np.float32)
    # r_I: query 0 -> mean(0.9, 0.5) = 0.7; query 1 -> mean(0.8, 0.2) = 0.5
    # r_Q: index 0 -> mean(0.9, 0.8) = 0.85; index 1 -> mean(0.5, 0.2) = 0.35
    out = csls_rescore(scores, scores, scores.T)
    expected = np.array(
        [[0.9 - (0.7 + 0.85) / 2, 0.5 - (0.7 + 0.35) / 2], [0.8 - (0.5 + 0.85) / 2, 0.2 - 0.425]]
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # non-finite neighbours are left out of the means
    fwd = np.array([[0.9, -np.inf], [0.8, 0.2]], dtype=np.float32)
    out = csls_rescore(scores, fwd, scores.T)
    np.testing.assert_allclose(out[0, 0], 0.9 - (0.9 + 0.85) / 2, atol=1e-6)


def test_csls_rescore_of_a_shortlist_equals_the_dense_form() -> None:
    rng = np.random.default_rng(0)
    dense = rng.random((4, 6)).astype(np.float32)
    fwd, rev = rng.random((4, 3)), rng.random((6, 3))
    full = csls_rescore(dense, fwd, rev)
    columns = np.array([[5, 0, -1], [1, 2, 3], [4, -1, -1], [0, 5, 2]])
    short = np.where(columns >= 0, np.take_along_axis(dense, np.maximum(columns, 0), 1), -np.inf)
    out = csls_rescore(short, fwd, rev, columns=columns)
    ok = columns >= 0
    np.testing.assert_allclose(out[ok], np.take_along_axis(full, np.maximum(columns, 0), 1)[ok])
    assert np.isneginf(out[~ok]).all()


def test_neighbourhood_mean_and_top_k_rows() -> None:
    values = np.array([[1.0, 3.0, 2.0], [-np.inf, -np.inf, -np.inf]])
    np.testing.assert_allclose(neighbourhood_mean(values), [2.0, 0.0])
    assert sorted(top_k_rows(values, 2)[0].tolist()) == [2.0, 3.0]
    assert top_k_rows(values, 5) is values
