import pytest

from matching import benchmark_loo as loo

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_loo_configs_always_has_the_raw_baseline():
    assert loo.loo_configs(None, has_images=True) == ["default", "raw:image+text"]
    assert loo.loo_configs(["proj:text", "raw:text"], has_images=False) == ["proj:text", "raw:text"]


def test_summarise_mean_and_worst():
    summary = loo.summarise(
        {
            "a": {"AUCPR": 0.9, "R@1": 0.95, "best_F1": 0.8},
            "b": {"AUCPR": 0.7, "R@1": 0.99, "best_F1": None},
        }
    )
    assert summary["mean"]["AUCPR"] == pytest.approx(0.8)
    assert summary["worst"]["AUCPR"] == 0.7 and summary["worst"]["R@1"] == 0.95
    assert summary["mean"]["best_F1"] == 0.8


def test_leave_one_shop_out_needs_another_shop():
    import datetime as dt

    with pytest.raises(ValueError, match="other than the index shop"):
        loo.run_leave_one_shop_out(
            train_shops=["a"], index_shop="a", query_shops=["a"], cutoff=dt.date(2025, 1, 1)
        )
