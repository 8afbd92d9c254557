import numpy as np

from matching.ml.list_features import LIST_FEATURE_NAMES, list_features


def test_list_features_compare_with_the_same_list_only():
    lists = np.array([7, 7, 7, 3, 3, 9])
    p = np.array([0.2, 0.9, 0.6, 0.5, 0.5, 0.8])
    f = list_features(lists, p)
    assert f.shape == (6, len(LIST_FEATURE_NAMES))
    np.testing.assert_allclose(f[:, 0], p, rtol=1e-6)
    # list 7: best 0.9, runner-up 0.6
    np.testing.assert_allclose(f[:3, 1], [0.2 - 0.9, 0.9 - 0.6, 0.6 - 0.9], atol=1e-6)
    np.testing.assert_allclose(f[:3, 2], [0.7, 0.0, 0.3], atol=1e-6)
    # list 3: a tie, each is 0 above the other
    np.testing.assert_allclose(f[3:5, 1], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(f[3:5, 2], [0.0, 0.0], atol=1e-6)
    # list 9: a single candidate is compared with nothing (0)
    assert np.isclose(f[5, 1], 0.8) and f[5, 2] == 0


def test_list_features_empty():
    assert list_features(np.zeros(0, int), np.zeros(0)).shape == (0, 3)
