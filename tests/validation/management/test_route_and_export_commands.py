"""Commands `route` and `export_matches`: they route / export done runs and refuse the others."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from matching.models import MatchRun
from validation.models import Export, ReviewRow, Routing


def test_route_then_export(run, tmp_path):
    out = io.StringIO()
    call_command("route", str(run.pk), "--accept", "0.8", "--review", "0.5", stdout=out)
    assert f"run #{run.pk}: accept >= 0.8000, review >= 0.5000" in out.getvalue()
    assert Routing.objects.filter(run=run, is_current=True).exists()
    path = tmp_path / "m.csv"
    out = io.StringIO()
    call_command("export_matches", str(run.pk), "--out", str(path), stdout=out)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert f"{len(rows)} matches written to {path}" in out.getvalue() and rows


@pytest.mark.parametrize("status", [MatchRun.Status.RUNNING, MatchRun.Status.FAILED])
def test_commands_refuse_a_run_that_is_not_done(run, tmp_path, status):
    run.status = status
    run.save(update_fields=["status"])
    message = f"Match run #{run.pk} is {status}, not done"
    with pytest.raises(CommandError, match=message):
        call_command("route", str(run.pk), stdout=io.StringIO())
    assert not ReviewRow.objects.filter(run=run).exists()
    path = tmp_path / "m.csv"
    with pytest.raises(CommandError, match=message):
        call_command("export_matches", str(run.pk), "--out", str(path), stdout=io.StringIO())
    assert not path.exists() and not Export.objects.exists()


def test_unknown_run(db, tmp_path):
    with pytest.raises(CommandError, match="no such run: 999"):
        call_command("route", "999")
    with pytest.raises(CommandError, match="no such run"):
        call_command("export_matches", "latest", "--out", str(tmp_path / "x.csv"))
