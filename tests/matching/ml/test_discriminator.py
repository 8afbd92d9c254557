import numpy as np
import pytest

from matching.ml import discriminator as d
from matching.ml.pair_features import FEATURE_NAMES


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    y = x[:, 4] + 0.5 * x[:, 0] > 0.3
    x[:, 2] = np.nan  # a column without any value (no image features)
    groups = np.arange(n) // 3
    return x, y, groups


def _auc(p, y):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, p)


def test_fit_predict_save_load(tmp_path):
    x, y, _ = _data()
    disc, note = d.fit_discriminator(x, y, seed=0)
    assert disc is not None and "fitted" in note
    assert 2 not in disc.used and "image_cosine" not in disc.info["features"]
    p = disc.predict(x)
    assert p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all()
    x_new, y_new, _ = _data(seed=1)
    assert _auc(disc.predict(x_new), y_new) > 0.9
    disc.save(tmp_path / "m" / "disc.joblib")
    again = d.Discriminator.load(tmp_path / "m" / "disc.joblib")
    np.testing.assert_allclose(again.predict(x_new), disc.predict(x_new))
    with pytest.raises(ValueError, match="expects"):
        disc.predict(x[:, :3])


def test_too_few_pairs_gives_none():
    x, y, _ = _data(n=30)
    disc, note = d.fit_discriminator(x, y)
    assert disc is None and "too few" in note


def test_out_of_fold_never_sees_its_group():
    """Labels that are pure noise per group: a model that saw the group would fit it; out of
    fold it cannot do better than chance."""
    rng = np.random.default_rng(0)
    n = 900
    groups = np.arange(n) // 3
    group_feature = rng.normal(size=n // 3)[groups]
    x = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    x[:, FEATURE_NAMES.index("rank")] = group_feature  # unconstrained column
    y = rng.random(n // 3)[groups] > 0.5
    oof = d.out_of_fold(x, y, groups, seed=0)
    assert not np.isnan(oof).any()
    assert abs(_auc(oof, y) - 0.5) < 0.1
    # a label the feature does explain is learnt out of fold
    y_learnable = group_feature > 0
    assert _auc(d.out_of_fold(x, y_learnable, groups, seed=0), y_learnable) > 0.95


def test_without_true_matches_moves_the_rest_up():
    cand = np.array([[4, 2, 7], [1, 3, -1], [5, 6, 8]])
    score = np.array([[0.9, 0.8, 0.7], [0.6, 0.5, -np.inf], [0.4, 0.3, 0.2]], dtype=np.float32)
    is_true = np.array([[False, True, False], [True, False, False], [False, False, False]])
    rows, idx, sc = d.without_true_matches(cand, score, is_true)
    assert list(rows) == [0, 1]
    assert idx.tolist() == [[4, 7, -1], [3, -1, -1]]
    np.testing.assert_allclose(sc[0, :2], [0.9, 0.7])
    assert np.isneginf(sc[0, 2]) and np.isneginf(sc[1, 1])


def test_scatter():
    out = d.scatter((2, 3), np.array([0, 1]), np.array([2, 0]), np.array([0.5, 0.25]))
    assert out[0, 2] == 0.5 and out[1, 0] == 0.25 and np.isneginf(out[0, 0])


def test_product_folds_partition_by_product():
    pids = ["a", "b", "a", None, "c", "b", "d", None, "e", "e", "f"]
    folds = d.product_folds(pids, folds=3, seed=1)
    assert len(folds) == 3
    everything = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(everything, np.arange(len(pids)))  # each offer exactly once
    fold_of = {int(i): f for f, rows in enumerate(folds) for i in rows}
    for pid in ("a", "b", "e"):  # all offers of a product in the same fold
        assert len({fold_of[i] for i, p in enumerate(pids) if p == pid}) == 1
    # 8 products (two lone offers among them) in 3 folds: 3 / 3 / 2
    sizes = sorted(len({pids[i] or f"lone{i}" for i in rows}) for rows in folds)
    assert sizes == [2, 3, 3]
    again = d.product_folds(pids, folds=3, seed=1)
    assert all((a == b).all() for a, b in zip(folds, again, strict=True))
    other = d.product_folds(pids, folds=3, seed=2)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(folds, other, strict=True))


def test_product_folds_rejects_too_few():
    with pytest.raises(ValueError, match="at least 2"):
        d.product_folds(["a", "b"], folds=1, seed=0)
    with pytest.raises(ValueError, match="cannot fill"):
        d.product_folds(["a", "a", "b"], folds=3, seed=0)


def _twin_lists(n_lists=400, seed=0):
    """Lists of 3 candidates; a high first column is a match only when it stands alone in
    its list (a list with two high candidates has no match): no single row can tell."""
    rng = np.random.default_rng(seed)
    rows, labels, lists = [], [], []
    for lst in range(n_lists):
        twins = lst % 2 == 1
        highs = [True, twins, False]
        for high in highs:
            row = rng.normal(size=len(FEATURE_NAMES)) * 0.1
            row[0] = rng.normal(2.0 if high else 0.0, 0.3)
            rows.append(row)
            labels.append(high and not twins)
            lists.append(lst)
    return np.asarray(rows, dtype=np.float32), np.asarray(labels), np.asarray(lists)


def test_stacked_discriminator_learns_from_the_rest_of_the_list(tmp_path):
    x, y, lists = _twin_lists()
    single, _ = d.fit_discriminator(x, y, seed=0)
    stacked, note, oof = d.fit_stacked(x, y, groups=lists, list_ids=lists, seed=0)
    assert stacked is not None and "stacked" in note and stacked.info["stacked"]
    assert oof is not None and oof.shape == y.shape and np.isfinite(oof).all()
    x_new, y_new, lists_new = _twin_lists(seed=1)
    high = x_new[:, 0] > 1.0  # among candidates that look alike on their own
    auc_single = _auc(single.predict(x_new)[high], y_new[high])
    auc_stacked = _auc(stacked.predict(x_new, list_ids=lists_new)[high], y_new[high])
    assert auc_single < 0.6 and auc_stacked > 0.8
    assert _auc(oof, y) > 0.9  # the out-of-fold scores of the whole stack carry it too
    with pytest.raises(ValueError, match="shortlist"):
        stacked.predict(x_new)
    stacked.save(tmp_path / "s.joblib")
    again = d.Discriminator.load(tmp_path / "s.joblib")
    np.testing.assert_allclose(
        again.predict(x_new, list_ids=lists_new), stacked.predict(x_new, list_ids=lists_new)
    )


def test_extra_columns_are_fitted_by_name(monkeypatch):
    """A caller (bench/discriminator_variants.py) may add columns: they are fitted, named in the
    model, get their monotonic constraint by name, and the model then reads exactly them."""
    x, y, groups = _data()
    rng = np.random.default_rng(3)
    extra = np.where(y, 0.0, rng.integers(0, 2, size=len(y))).astype(np.float32)  # 1: never
    names = (*FEATURE_NAMES, "family_conflict")
    wide = np.column_stack([x, extra])
    monkeypatch.setitem(d.MONOTONIC, "family_conflict", -1)
    single, _note = d.fit_discriminator(wide, y, seed=0, names=names)
    stacked, _note, oof = d.fit_stacked(
        wide, y, groups=groups, list_ids=groups, seed=0, names=names
    )
    assert single.feature_names == names and "family_conflict" in single.info["features"]
    flipped = wide.copy()
    flipped[:, -1] = 1.0
    p, p_flipped = single.predict(wide), single.predict(flipped)
    assert (p_flipped <= p + 1e-6).all() and (p_flipped < p - 0.05).any()  # -1: only falls
    assert stacked.feature_names == names and len(oof) == len(y)
    assert _auc(stacked.predict(wide, list_ids=groups), y) > 0.9
    with pytest.raises(ValueError, match=r"unknown features \['family_conflict'\]"):
        stacked.predict(x, list_ids=groups)  # today's columns without the extra one
