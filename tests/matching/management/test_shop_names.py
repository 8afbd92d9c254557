"""Shop names with commas: repeated --shop / --train-shop flags (the comma form can't say them)."""

import pytest
from django.core.management import CommandError, call_command

from matching.management.commands._matching_args import shops_from
from matching.models import MatchRun, OfferEmbedding, ProjectionModel

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

COMMA_SHOP = "Smith, Jones & Co"
SHOPS = ("atelier", COMMA_SHOP, "corso")


def test_shops_from_combines_both_forms_in_order():
    options = {"shops": "atelier,corso", "shop": [COMMA_SHOP, "atelier"]}
    assert shops_from(options, plural="shops", single="shop") == ["atelier", "corso", COMMA_SHOP]
    assert shops_from({"shops": None, "shop": None}, plural="shops", single="shop") is None
    with pytest.raises(CommandError, match="give --train-shops or --train-shop"):
        shops_from({}, plural="train-shops", single="train-shop", required=True)
    with pytest.raises(CommandError, match="empty shop name"):
        shops_from({"shop": [" "]}, plural="shops", single="shop")


def test_encode_train_and_match_a_shop_whose_name_has_a_comma(imported_cross_shop):
    imported_cross_shop(n_products=4, images=False, shops=SHOPS)
    with pytest.raises(CommandError, match="unknown shop"):  # the comma form splits the name
        call_command("encode", "--shops", COMMA_SHOP, "--image-encoder", "none", "--no-progress")

    call_command("encode", "--shop", COMMA_SHOP, "--image-encoder", "none", "--no-progress")
    encoded = set(OfferEmbedding.objects.values_list("offer__shop__name", flat=True))
    assert encoded == {COMMA_SHOP}
    call_command("encode", "--image-encoder", "none", "--no-progress")

    call_command(
        "train_projection", "--train-shops", "atelier", "--train-shop", COMMA_SHOP,
        "--before", "2025-07-01", "--features", "text", "--dim", "8", "--epochs", "1",
    )  # fmt: skip
    model = ProjectionModel.objects.get()
    assert set(model.train_shops.values_list("name", flat=True)) == {"atelier", COMMA_SHOP}

    call_command(
        "match", "--query-shop", COMMA_SHOP, "--index-shop", "atelier", "--model", "latest"
    )
    run = MatchRun.objects.get()
    assert run.status == MatchRun.Status.DONE and run.query_shop.name == COMMA_SHOP


def test_benchmark_and_demo_parsers_accept_repeated_shop_flags():
    from fashionid_app.management.commands.demo import Command as Demo
    from matching.management.commands.benchmark import Command as Benchmark

    parser = Benchmark().create_parser("manage.py", "benchmark")
    options = vars(
        parser.parse_args(
            ["folder", "--train-shop", COMMA_SHOP, "--train-shops", "a,b", "--index-shop", "a",
             "--query-shop", COMMA_SHOP, "--query-shop", "b", "--cutoff", "2025-01-01"]
        )
    )  # fmt: skip
    assert shops_from(options, plural="train-shops", single="train-shop") == ["a", "b", COMMA_SHOP]
    assert shops_from(options, plural="query-shops", single="query-shop") == [COMMA_SHOP, "b"]
    demo = vars(Demo().create_parser("manage.py", "demo").parse_args(["--train-shop", COMMA_SHOP]))
    assert shops_from(demo, plural="train-shops", single="train-shop") == [COMMA_SHOP]
