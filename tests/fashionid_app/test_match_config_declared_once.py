"""A match default is declared once (MatchConfig): changing it there changes it for the `match`
command, the match job, the benchmark (its command and run_benchmark) and the demo pipeline."""

from dataclasses import fields
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from matching.ml.match_config import MatchConfig

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


class Reached(Exception):
    """Raised by the stand-in of the matching service once it has the config."""


@pytest.fixture
def changed_defaults(monkeypatch):
    names = [f.name for f in fields(MatchConfig)]
    defaults = list(MatchConfig.__init__.__defaults__)
    assert len(defaults) == len(names)  # every parameter has its default here
    defaults[names.index("brand_threshold")] = 55.0
    defaults[names.index("shortlist")] = 7
    monkeypatch.setattr(MatchConfig.__init__, "__defaults__", tuple(defaults))
    assert (MatchConfig().brand_threshold, MatchConfig().shortlist) == (55.0, 7)


@pytest.fixture
def seen(monkeypatch):
    from matching.services import matching as matching_service

    configs = []

    def match(*, config, **kwargs):
        configs.append(config)
        raise Reached

    monkeypatch.setattr(matching_service, "match", match)
    return configs


def _changed(config: MatchConfig) -> bool:
    return config.brand_threshold == 55.0 and config.shortlist == 7


def test_command_job_benchmark_and_demo_take_the_changed_default(
    changed_defaults, seen, monkeypatch, write_catalogue
):
    from fashionid_app import pipeline
    from matching import benchmark, jobs
    from matching.management.commands._matching_args import match_config_from_options
    from matching.management.commands.benchmark import Command as Benchmark
    from matching.services import encoding, training

    with pytest.raises(Reached):
        call_command("match", "--query-shop", "a", "--index-shop", "b", "--features", "text")
    with pytest.raises(Reached):
        jobs.match_job(query_shop="a", index_shop="b", features="text")

    parser = Benchmark().create_parser("manage.py", "benchmark")
    options = parser.parse_args(
        ["cat", "--train-shops", "a", "--index-shop", "a", "--query-shops", "b",
         "--cutoff", "2025-01-01"]
    )  # fmt: skip
    seen.append(match_config_from_options(vars(options)))

    monkeypatch.setattr(encoding, "encode_offers", lambda **kwargs: [])
    with pytest.raises(Reached):
        benchmark.run_benchmark(
            train_shops=["a"], index_shop="a", query_shops=["b"], cutoff=None,
            configs=["raw:text"], log=lambda line: None,
        )  # fmt: skip

    folder = write_catalogue(
        [{"offer_id": str(i), "shop": shop, "title": f"t{i}"} for i, shop in enumerate("aab")]
    )
    model = SimpleNamespace(metrics={})
    monkeypatch.setattr(training, "train_projection", lambda **kwargs: model)
    with pytest.raises(Reached):
        pipeline.run_pipeline(catalogue=folder, say=lambda line: None)

    assert len(seen) == 5 and all(_changed(c) for c in seen), seen
