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
