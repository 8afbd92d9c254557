import pytest
from django.core.management import CommandError, call_command

from matching.ml.match_config import MatchConfig
from matching.models import Candidate, MatchRun

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _prepared(imported_cross_shop):
    imported_cross_shop(n_products=6, images=False)
    call_command("encode", "--image-encoder", "none", "--no-progress")


def test_match_command_raw_and_latest_model(imported_cross_shop, capsys):
    _prepared(imported_cross_shop)
    common = ["--query-shop", "boulevard", "--index-shop", "atelier", "--since", "2025-07-01"]
    call_command(
        "match", *common, "--features", "text", "--k", "2", "--brand-threshold", "none",
        "--no-one-to-one", "--text-weight", "0.5",
    )  # fmt: skip
    run = MatchRun.objects.get()
    assert run.config == {
        **MatchConfig().to_dict(),
        "k": 2,
        "brand_threshold": None,
        "one_to_one": False,
        "text_weight": 0.5,
    }
    assert "scoring" not in run.metrics
    assert run.brand_threshold is None and run.k == 2 and run.model is None
    assert run.metrics["comparisons"] == run.metrics["comparisons_unblocked"]
    assert Candidate.objects.filter(run=run).count() == 2 * run.n_queries
    out = capsys.readouterr().out
    assert f"match run #{run.pk}" in out and "AUCPR" in out

    call_command(
        "train_projection", "--train-shops", "atelier,boulevard,corso", "--before",
        "2025-07-01", "--features", "text", "--dim", "8", "--epochs", "1",
    )  # fmt: skip
    call_command("match", *common, "--model", "latest", "--index-type", "hnsw")
    latest = MatchRun.objects.order_by("-pk").first()
    assert latest.model is not None and latest.index_type == "hnsw"
    assert latest.brand_threshold == 80.0 and latest.features == "text"
    assert latest.config["one_to_one"] is True
    assert latest.config["text_weight"] == 0.5  # resolved for text-only features


def test_match_command_errors(imported_cross_shop):
    _prepared(imported_cross_shop)
    with pytest.raises(CommandError, match="no ready projection model"):
        call_command("match", "--query-shop", "boulevard", "--index-shop", "atelier",
                     "--model", "latest")  # fmt: skip
    with pytest.raises(CommandError, match="unknown shop"):
        call_command("match", "--query-shop", "x", "--index-shop", "atelier", "--features", "text")
