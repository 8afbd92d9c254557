"""The demo command runs the whole pipeline and ends with rows for validators to judge."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from demo import catalogue as demo_catalogue
from matching.models import Candidate, MatchRun, Offer, ProjectionModel, Shop
from validation.models import ReviewRow

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_demo_runs_import_encode_train_match_route_and_creates_accounts(
    settings, tmp_path, capsys, client
):
    settings.VAR_DIR = tmp_path
    call_command(
        "demo",
        "--products=24",
        "--epochs=5",
        "--image-encoder=timm:test_efficientnet",
        "--text-encoder=minilm",
    )
    out = capsys.readouterr().out
    assert Offer.objects.count() > 40
    assert ProjectionModel.objects.get().status == ProjectionModel.Status.READY
    run = MatchRun.objects.get()
    assert run.status == MatchRun.Status.DONE and run.n_queries > 0
    assert Candidate.objects.filter(run=run).exists()
    assert 0.0 <= run.metrics["AUCPR"] <= 1.0
    assert ReviewRow.objects.exists()  # validators have rows to judge
    passwords = dict(
        line.split()[0:3:2]
        for line in out.splitlines()
        if line.strip().startswith(("admin", "validator"))
    )
    assert set(passwords) == {"admin", "validator1", "validator2", "validator3"}
    assert User.objects.get(username="validator2").check_password(passwords["validator2"])
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(passwords["admin"])
    assert (tmp_path / "synthetic-demo-catalogue" / "offers.csv").is_file()
    # the generated catalogue is recorded as synthetic, and the UI says so
    assert set(Shop.objects.filter(synthetic=True).values_list("name", flat=True)) == set(
        demo_catalogue.SHOP_NAMES
    )
    client.force_login(admin)
    assert "synthetic demo data" in client.get("/runs/").content.decode()
