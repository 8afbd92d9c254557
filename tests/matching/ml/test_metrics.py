import math

import numpy as np
import pytest

from matching.ml.metrics import (
    aucpr,
    best_f1,
    per_category_pr,
    plot_pr_curves,
    pr_curve_at_1,
    recall_at_k,
)

# Five queries; four have a true match in the index (n_with_match=4), query 4 has none.
SIM = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
CORRECT = np.array([True, False, True, True, False])
# sorted by similarity: correct, wrong, correct, correct, wrong
# precision: 1/1, 1/2, 2/3, 3/4, 3/5 ; recall: 1/4, 1/4, 2/4, 3/4, 3/4


def test_recall_at_k() -> None:
    retrieved = np.array([[3, 1, 2], [0, 4, -1], [5, 6, 7], [9, 9, 9]])
    relevant = [{1}, {4}, {8}, set()]
    assert recall_at_k(retrieved=retrieved, relevant=relevant, k=1) == 0.0
    assert recall_at_k(retrieved=retrieved, relevant=relevant, k=2) == pytest.approx(2 / 3)
    assert recall_at_k(retrieved=retrieved, relevant=relevant, k=3) == pytest.approx(2 / 3)


def test_pr_curve_hand_computed() -> None:
    p, r, t = pr_curve_at_1(top1_similarity=SIM, top1_correct=CORRECT, n_with_match=4)
    np.testing.assert_allclose(p, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(r, [1 / 4, 1 / 4, 2 / 4, 3 / 4, 3 / 4])
    np.testing.assert_allclose(t, SIM)


def test_aucpr_hand_computed() -> None:
    p, r, _ = pr_curve_at_1(top1_similarity=SIM, top1_correct=CORRECT, n_with_match=4)
    # recall increments 1/4 at p=1, 0, 1/4 at p=2/3, 1/4 at p=3/4, 0
    expected = 0.25 * 1 + 0.25 * (2 / 3) + 0.25 * 0.75
    assert aucpr(p, r) == pytest.approx(expected)
    assert aucpr(np.array([]), np.array([])) == 0.0


def test_ties_form_one_point_and_missing_neighbours_are_ignored() -> None:
    sim = np.array([0.9, 0.9, 0.5, -np.inf, np.nan])
    correct = np.array([True, False, True, False, False])
    p, r, t = pr_curve_at_1(top1_similarity=sim, top1_correct=correct, n_with_match=4)
    np.testing.assert_allclose(t, [0.9, 0.5])
    np.testing.assert_allclose(p, [1 / 2, 2 / 3])
    np.testing.assert_allclose(r, [1 / 4, 2 / 4])


def test_best_f1() -> None:
    p, r, t = pr_curve_at_1(top1_similarity=SIM, top1_correct=CORRECT, n_with_match=4)
    f1, threshold = best_f1(p, r, t)
    # F1 at each point: 0.4, 0.333, 0.571, 0.75, 0.667 -> best 0.75 at threshold 0.6
    assert f1 == pytest.approx(0.75)
    assert threshold == pytest.approx(0.6)
    assert best_f1(np.array([]), np.array([]), np.array([])) == (0.0, math.inf)


def test_per_category_pr() -> None:
    out = per_category_pr(
        categories=["a", "a", "b", "b", "b"],
        top1_similarity=SIM,
        top1_correct=CORRECT,
        has_match=np.array([True, True, True, True, False]),
    )
    assert set(out) == {"a", "b"}
    p, r, _, area = out["a"]
    np.testing.assert_allclose(p, [1, 1 / 2])
    np.testing.assert_allclose(r, [1 / 2, 1 / 2])
    assert area == pytest.approx(0.5)
    assert out["b"][3] == pytest.approx(1.0)  # two correct of two matched, none wrong before


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_pr_curves(tmp_path, suffix: str) -> None:
    p, r, _ = pr_curve_at_1(top1_similarity=SIM, top1_correct=CORRECT, n_with_match=4)
    path = plot_pr_curves(
        {"model": (p, r)}, tmp_path / f"pr{suffix}", thresholds_to_mark={"accept": (0.5, 0.67)}
    )
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data
