"""Browser test: an admin trains a projection and starts "encode -> match -> route" on the demo
catalogue from the web, watches the chains finish on the jobs page and lands on the new run's
triage page. Jobs run inline here (no REDIS_URL): the start request returns when the chain is
done; with Redis the jobs page polls (htmx) until it is.

The jobs page screenshot (1366x768) goes to docs/jobs-page.png when FASHIONID_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count

from demo.catalogue import generate_demo_catalogue
from matching.catalogue_import import import_catalogue
from matching.models import MatchRun, ProjectionModel, Shop
from operations.models import PipelineJob

from .test_review_flow import ARGS, CHROMIUM, REPO, _login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium"),
]


@pytest.fixture
def shots(tmp_path) -> Path:
    if os.environ.get("FASHIONID_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        return REPO / "docs"
    return tmp_path


@pytest.fixture
def catalogue(settings, tmp_path, transactional_db) -> list[str]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    generate_demo_catalogue(directory=tmp_path / "demo", n_products=16, seed=5)
    import_catalogue(directory=tmp_path / "demo")
    adm = get_user_model().objects.create_user("ada", password="ada-pw")
    adm.groups.add(Group.objects.get_or_create(name="Admins")[0])
    shops = Shop.objects.annotate(n=Count("offers")).order_by("-n", "name")
    return list(shops.values_list("name", flat=True))


@pytest.fixture
def browser():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
        connections.close_all()


def test_admin_runs_the_pipeline_from_the_web(live_server, catalogue, browser, shots):
    base = live_server.url
    index_shop, query_shop = catalogue[0], catalogue[1]
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.set_default_timeout(120_000)  # inline: the start request returns when the chain is done
    _login(page, base, "ada", "ada-pw")
    assert "Needs attention" in page.inner_text("main")

    # 1. train a projection on all shops (text features, a few epochs)
    page.click("text=Train a projection…")
    for shop in catalogue:
        page.check(f"input[name=train_shops][value='{shop}']")
    page.select_option("#id_features", "text")
    page.fill("#id_epochs", "5")
    page.fill("#id_name", "web model")
    with page.expect_navigation():
        page.click(".start-form button[type=submit]")
    assert page.url.startswith(f"{base}/jobs/")
    model = ProjectionModel.objects.get(name="web model")
    assert model.status == ProjectionModel.Status.READY

    # 2. a mistake is named on the form, nothing starts
    page.goto(f"{base}/jobs/new/match/")
    page.select_option("#id_query_shop", query_shop)
    page.select_option("#id_index_shop", query_shop)
    page.fill("#id_target_precision", "1.5")
    with page.expect_navigation():
        page.click(".start-form button[type=submit]")
    text = page.inner_text("main")
    assert "the index shop must differ from the query shop" in text
    assert "strictly between 0 and 1" in text
    assert PipelineJob.objects.count() == 1

    # 3. a chain whose stage fails shows the error on the jobs page (and on the home page)
    page.select_option("#id_index_shop", index_shop)
    page.select_option("#id_features", "text")
    page.fill("#id_text_encoder", "sentence-transformers:/models/missing")
    page.fill("#id_target_precision", "0.9")
    with page.expect_navigation():
        page.click(".start-form button[type=submit]")
    failed = PipelineJob.objects.get(kind=PipelineJob.Kind.MATCH)
    assert failed.status == PipelineJob.Status.FAILED
    assert "/models/missing" in page.locator(f"#job-{failed.pk} td.error").inner_text()
    page.goto(f"{base}/")
    assert "1 failed job" in page.inner_text("#failed-jobs")

    # 4. encode -> match -> route with the new model
    page.goto(f"{base}/jobs/new/match/")
    page.select_option("#id_query_shop", query_shop)
    page.select_option("#id_index_shop", index_shop)
    page.select_option("#id_model", str(model.pk))
    page.fill("#id_target_precision", "0.9")
    with page.expect_navigation():
        page.click(".start-form button[type=submit]")
    job = PipelineJob.objects.filter(kind=PipelineJob.Kind.MATCH).exclude(pk=failed.pk).get()
    row = page.locator(f"#job-{job.pk}")
    # watch it finish (inline it already has; with a queue the htmx poll updates the row)
    page.wait_for_selector(f"#job-{job.pk}.done", timeout=300_000)
    assert row.locator("td.status").inner_text() == "done"
    assert re.search(r"encode\s*→\s*match\s*→\s*route", row.inner_text())
    assert page.locator("#jobs").get_attribute("data-active") == "0"
    page.screenshot(path=str(shots / "jobs-page.png"))

    run = MatchRun.objects.get()
    assert run.model_id == model.pk and run.query_shop.name == query_shop
    row.locator(f"text=triage of run #{run.pk}").click()
    page.wait_for_url(f"{base}/runs/{run.pk}/triage/")
    assert f"#{run.pk}" in page.inner_text("h1")
