import pytest
from django.core.management import CommandError, call_command

from matching.models import ProjectionModel

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_train_projection_command(imported_cross_shop, capsys):
    imported_cross_shop(n_products=6, images=False)
    call_command("encode", "--image-encoder", "none", "--no-progress")
    call_command(
        "train_projection",
        "--train-shops", "atelier,boulevard,corso",
        "--before", "2025-07-01",
        "--features", "text,numeric",
        "--dim", "8", "--hidden", "16", "--epochs", "2", "--batch-size", "32",
        "--lone-share", "0.5", "--seed", "3",
    )  # fmt: skip
    model = ProjectionModel.objects.get()
    assert model.status == "ready" and model.features == "text+numeric"
    assert model.config["hidden"] == 16 and model.config["seed"] == 3
    assert model.config["lone_share"] == 0.5 and len(model.history) == 2
    captured = capsys.readouterr()
    assert f"projection model #{model.pk}" in captured.out
    assert "epoch   1" in captured.err


def test_train_projection_command_needs_embeddings(imported_cross_shop):
    imported_cross_shop(n_products=2, images=False)
    with pytest.raises(CommandError, match="manage.py encode"):
        call_command("train_projection", "--train-shops", "atelier", "--features", "text")


def test_train_projection_stores_its_label_sources(imported_cross_shop, capsys):
    imported_cross_shop(n_products=6, images=False)
    call_command("encode", "--image-encoder", "none", "--no-progress")
    call_command(
        "train_projection", "--train-shops", "atelier,boulevard,corso", "--features", "text",
        "--epochs", "2", "--calibration-share", "0",
    )  # fmt: skip
    model = ProjectionModel.objects.get()
    info = model.label_sources
    # 6 products in 3 shops (18 offers); the 6 lone offers have product ids of their own
    assert info["sources"] == ["product_ids"] and info["product_id_offers"] == 18
    assert info["groups"] == 6 and "accepted_pairs" in info
    assert model.config["labels"] == ["product_ids"]
    assert model.labels_summary == "product ids: 18 offers"
    assert "labels: product ids: 18 offers" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--labels", "product_ids,votes"], "unknown label source\\(s\\) votes"),
        (["--labels", "verdicts", "--min-gold-accuracy", "1.5"], "min_gold_accuracy"),
        (["--labels", "verdicts"], "no training labels"),
    ],
)
def test_train_projection_refuses_bad_label_options(imported_cross_shop, flags, message):
    imported_cross_shop(n_products=2, images=False)
    call_command("encode", "--image-encoder", "none", "--no-progress")
    with pytest.raises(CommandError, match=message):
        call_command("train_projection", "--train-shops", "atelier", "--features", "text", *flags)
