"""simulate_validators --truth: ground truth from a file for a catalogue without product ids."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from matching.models import Offer
from validation.models import Decision, Judgement, ReviewRow, Routing
from validation.selectors.quality import quality_report
from validation.services import truth as truth_services
from validation.services.routing import route_run

from ..conftest import make_user


def _write(path, rows, header=("offer_id", "shop", "product_id")):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _truths(rows):
    return {r.query_offer_id: (r.truth, r.truth_offer_id) for r in rows}


def _run_truths(run):
    return _truths(ReviewRow.objects.filter(run=run))


@pytest.fixture
def unlabelled(run, tmp_path):
    """The run routed with product ids (the expected truth), then again with the query shop's
    product ids moved to a truth file: (run, expected truth by query, truth file)."""
    route_run(run=run, accept=None, review=0.0)
    # gold rows need product ids at routing time, so only the review rows come back below
    expected = _truths(run.review_rows.filter(kind="review"))
    assert {t for t, _ in expected.values()} >= {"match", "none"}
    queries = Offer.objects.filter(shop=run.query_shop)
    path = _write(
        tmp_path / "truth.csv", [(o.offer_id, o.shop.name, o.product_id) for o in queries]
    )
    queries.update(product_id=None)
    ReviewRow.objects.filter(run=run).delete()
    Decision.objects.filter(run=run).delete()
    Routing.objects.filter(run=run).delete()
    route_run(run=run, accept=None, review=0.0)
    assert _run_truths(run).keys() == expected.keys()
    assert {t for t, _ in _run_truths(run).values()} == {"unknown"}
    return run, expected, path


def test_truth_file_gives_the_rows_their_truth_and_the_simulation_uses_it(unlabelled):
    run, expected, path = unlabelled
    out = io.StringIO()
    call_command(
        "simulate_validators",
        str(run.pk),
        "--validators",
        "3",
        "--tpr",
        "1",
        "--fpr",
        "0",
        "--truth",
        str(path),
        stdout=out,
    )
    text = out.getvalue()
    assert _run_truths(run) == expected
    assert set(ReviewRow.objects.filter(run=run).values_list("truth_source", flat=True)) == {"file"}
    n = len(expected)
    assert f"{n} rows (" in text and f"{n} changed" in text
    assert f"ground truth from: a truth file (simulate_validators --truth) ({n} rows)" in text
    q = quality_report(run=run, n_boot=10)
    assert q["rows"]["with_truth"] == n
    # perfect simulated validators against the file's truth: every accepted pair is right
    assert q["observed_precision"] == 1.0 and q["n_accepted_with_truth"] > 0
    assert q["judgements"]["fp"] == 0 and q["judgements"]["fn"] == 0


def test_without_the_file_the_rows_have_no_truth(unlabelled):
    run, _, _ = unlabelled
    out = io.StringIO()
    call_command("simulate_validators", str(run.pk), "--tpr", "1", "--fpr", "0", stdout=out)
    assert quality_report(run=run, n_boot=10)["rows"]["with_truth"] == 0
    assert "catalogue product ids at routing time" in out.getvalue()


def test_applying_again_changes_nothing_and_the_page_says_where_truth_comes_from(
    unlabelled, client
):
    run, expected, path = unlabelled
    truth = truth_services.load_truth_file(path=path)
    assert truth_services.apply_truth(run=run, truth=truth)["changed"] == len(expected)
    again = truth_services.apply_truth(run=run, truth=truth)
    assert again["changed"] == 0 and again["rows"] == len(expected)
    client.force_login(make_user("boss", "Admins"))
    page = client.get(reverse("validation:quality", args=[run.pk])).content.decode()
    assert "Ground truth from: a truth file (simulate_validators --truth)" in page
    # the truth is not on the validators' review page
    val = make_user("val1")
    client.force_login(val)
    review = client.get(reverse("validation:review")).content.decode()
    assert "truth" not in review.lower()


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("q0", "x", "p")], ("offer_id", "shop"), "missing column\\(s\\) product_id"),
        ([("q0", "SHOP", "p"), ("q1", "no-such-shop", "p")], None, "line 3: unknown shop"),
        ([("q0", "SHOP", "p"), ("nope", "SHOP", "p")], None, "line 3: unknown offer 'nope'"),
        ([("q0", "SHOP", "")], None, "line 2: empty product_id"),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(
    unlabelled, tmp_path, rows, header, message
):
    run, _, _ = unlabelled
    shop = run.query_shop.name
    rows = [tuple(shop if c == "SHOP" else c for c in r) for r in rows]
    path = _write(tmp_path / "bad.csv", rows, header=header or ("offer_id", "shop", "product_id"))
    before = _run_truths(run)
    with pytest.raises(CommandError, match=message):
        call_command(
            "simulate_validators", str(run.pk), "--tpr", "1", "--fpr", "0", "--truth", str(path)
        )
    assert _run_truths(run) == before
    assert not Judgement.objects.exists()
    assert set(ReviewRow.objects.values_list("truth_source", flat=True)) == {"catalogue"}


def test_missing_file(unlabelled, tmp_path):
    run, _, _ = unlabelled
    with pytest.raises(CommandError, match="cannot read"):
        call_command(
            "simulate_validators",
            str(run.pk),
            "--tpr",
            "1",
            "--fpr",
            "0",
            "--truth",
            str(tmp_path / "none.csv"),
        )
    assert not Judgement.objects.exists()
