import json

import pytest
from django.core.management import CommandError, call_command

from matching.ml.match_config import MatchConfig
from matching.models import Offer

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_benchmark_runs_isolated_and_writes_json(cross_shop_catalogue, specs, tmp_path, capsys):
    folder = cross_shop_catalogue(n_products=8, shops=("atelier", "boulevard", "Smith, Jones"))
    out_json = tmp_path / "bench.json"
    call_command(
        "benchmark",
        str(folder),
        "--train-shops", "atelier,boulevard", "--train-shop", "Smith, Jones",
        "--index-shop", "atelier",
        "--query-shop", "boulevard", "--query-shop", "Smith, Jones",
        "--cutoff", "2025-07-01",
        "--configs", "raw:image+text,proj:text+numeric",
        "--dims", "8",
        "--ablation-features", "text",
        "--epochs", "2",
        "--batch-size", "32",
        "--dim", "16",
        "--image-encoder", specs["image_spec"],
        "--embedding-cache", str(tmp_path / "cache"),
        "--json", str(out_json),
        "--report", str(tmp_path / "report.json"),
        "--no-one-to-one", "--shortlist", "20",
        "--no-progress",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "raw:image+text" in out and "boulevard AUCPR" in out
    data = json.loads(out_json.read_text())
    assert set(data) == {"raw:image+text", "proj:text+numeric", "proj:text@dim=8"}
    for per_query in data.values():
        assert set(per_query) == {"boulevard", "Smith, Jones"}
        for metrics in per_query.values():
            assert set(metrics) == {"R@1", "R@3", "AUCPR"}
            assert all(0.0 <= v <= 1.0 for v in metrics.values())
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["shops"]["train"] == ["atelier", "boulevard", "Smith, Jones"]
    assert report["match_config"] == {
        **MatchConfig().to_dict(),
        "one_to_one": False,
        "shortlist": 20,
    }
    assert not Offer.objects.exists()  # the test database was never touched
    assert any((tmp_path / "cache").iterdir())


def test_benchmark_rejects_a_missing_catalogue(tmp_path):
    with pytest.raises(CommandError, match="no offers.csv"):
        call_command(
            "benchmark", str(tmp_path), "--train-shops", "a", "--index-shop", "a",
            "--query-shops", "b", "--cutoff", "2025-01-01",
        )  # fmt: skip


def test_benchmark_leave_one_shop_out(write_catalogue, specs, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("matching_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cross_shop_rows = module.cross_shop_rows
    rows = cross_shop_rows(n_products=8, shops=("atelier", "boulevard", "corso"))
    dune = cross_shop_rows(n_products=8, shops=("atelier", "dune", "corso"))
    folder = write_catalogue(rows + [r for r in dune if r["shop"] == "dune"])
    out_json = tmp_path / "loo.json"
    call_command(
        "benchmark",
        str(folder),
        "--train-shops", "atelier,boulevard,corso",
        "--index-shop", "atelier",
        "--query-shops", "atelier,boulevard,dune",
        "--cutoff", "2025-07-01",
        "--configs", "proj:text@epochs=2,dim=8",
        "--leave-one-shop-out",
        "--image-encoder", specs["image_spec"],
        "--embedding-cache", str(tmp_path / "cache"),
        "--json", str(out_json),
        "--report", str(tmp_path / "report.json"),
        "--no-progress",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "worst AUCPR" in out and "in-domain boulevard AUCPR" in out
    data = json.loads(out_json.read_text())
    assert set(data) == {"proj:text@epochs=2,dim=8", "raw:image+text"}
    for per_shop in data.values():
        assert {"boulevard", "dune", "mean", "worst", "in-domain boulevard"} <= set(per_shop)
        worst = per_shop["worst"]["AUCPR"]
        assert worst == min(per_shop[s]["AUCPR"] for s in ("boulevard", "dune"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["held_out"] == ["boulevard", "dune"]
    # boulevard held out: trained on atelier + corso only; dune: on all three
    assert report["runs"]["boulevard"]["shops"]["train"] == ["atelier", "corso"]
    assert report["runs"]["dune"]["shops"]["train"] == ["atelier", "boulevard", "corso"]
    assert not Offer.objects.exists()
