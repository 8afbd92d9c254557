"""The demo command runs the whole pipeline and ends with rows for validators to judge."""

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from matching.models import Candidate, MatchRun, Offer, ProjectionModel
from validation.models import ReviewRow

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_demo_runs_import_encode_train_match_route_and_creates_accounts(settings, tmp_path, capsys):
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
    assert authenticate(username="validator2", password=passwords["validator2"]) is not None
    assert authenticate(username="admin", password=passwords["admin"]).is_superuser
    assert (tmp_path / "synthetic-demo-catalogue" / "offers.csv").is_file()
