"""Browser tests: a validator judges rows with the keyboard, undoes one and opens the feedback
page; an admin sets thresholds on the triage page and downloads the export; the next row
appears in place within 150 ms of a key press (median), its images fetched ahead; and the
review still works with JavaScript off (form POST + redirect).

Screenshots (1366x768) go to docs/ when FASHIONID_SCREENSHOTS=1, else to a temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from PIL import Image, ImageDraw

from demo.synthetic_run import create_synthetic_run
from matching.models import Offer, OfferImage
from validation.models import Judgement, ReviewLease, ReviewRow
from validation.services.routing import route_run

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium"),
]


def _picture(path: Path, product: str, variant: int) -> None:
    h = hashlib.sha256(product.encode()).digest()
    colour = (h[0], h[1], h[2])
    img = Image.new("RGB", (254, 367), (245, 245, 245))
    d = ImageDraw.Draw(img)
    if variant == 0:  # a garment-ish silhouette
        d.polygon(
            [
                (70, 60),
                (184, 60),
                (214, 130),
                (190, 140),
                (184, 320),
                (70, 320),
                (64, 140),
                (40, 130),
            ],
            fill=colour,
        )
    else:  # a close-up of the fabric
        for y in range(0, 367, 24):
            d.rectangle([0, y, 254, y + 12], fill=colour)
    d.text((10, 345), f"photo {variant + 1}", fill=(60, 60, 60))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=85)


def _add_images(media: Path, offers) -> None:
    images = []
    for o in offers:
        for pos in range(2):
            rel = f"offers/preprocessed/{o.shop_id}/{o.pk}-{pos}.jpg"
            _picture(media / rel, o.product_id or str(o.pk), pos)
            images.append(
                OfferImage(
                    offer=o,
                    position=pos,
                    source_path=rel,
                    original=rel,
                    preprocessed=rel,
                    checksum="0" * 64,
                    width=254,
                    height=367,
                )
            )
    OfferImage.objects.bulk_create(images)


@pytest.fixture
def shots(tmp_path):
    if os.environ.get("FASHIONID_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        return REPO / "docs"
    return tmp_path


@pytest.fixture
def data(settings, tmp_path, transactional_db):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FASHIONID_EXPORT_DIR = tmp_path / "exports"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    run = create_synthetic_run(n_queries=30, seed=7)
    route_run(run=run, accept=0.85, review=0.45)
    _add_images(settings.MEDIA_ROOT, Offer.objects.all())
    User = get_user_model()
    val = User.objects.create_user("vera", password="vera-pw")
    val.groups.add(Group.objects.get_or_create(name="Validators")[0])
    adm = User.objects.create_user("ada", password="ada-pw")
    adm.groups.add(Group.objects.get_or_create(name="Admins")[0])
    return {"run": run, "validator": val, "admin": adm}


@pytest.fixture
def browser():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
        # ORM calls made while Playwright runs use their own connection (another context);
        # close it, or PostgreSQL refuses to drop the test database.
        connections.close_all()


def _login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _press(page, key: str) -> None:
    """Press a review key and wait until the next review panel has been swapped in (htmx: no
    page load; the old panel leaves the document)."""
    page.wait_for_selector("#prefetch.fetched", state="attached")  # the next row is leased
    old = page.locator("#review").element_handle()
    page.keyboard.press(key)
    page.wait_for_function("el => !el.isConnected", arg=old)
    page.wait_for_selector("#review")


def test_validator_and_admin_flows(live_server, data, browser, shots, tmp_path):
    base = live_server.url
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = ctx.new_page()

    # --- validator: keyboard judging, undo, feedback
    _login(page, base, "vera", "vera-pw")
    assert page.url.endswith("/review/")
    assert page.locator(".offer.candidate").count() == 3
    assert page.locator(".query .main-img").count() == 1
    page.screenshot(path=str(shots / "review-page.png"))
    # the whole review area fits a 1366x768 screen
    box = page.locator(".review-grid").bounding_box()
    assert box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")

    first_lease = page.locator("#review").get_attribute("data-lease")
    _press(page, "1")
    assert page.locator("#review").get_attribute("data-lease") != first_lease
    assert page.locator("#today").inner_text() == "1"
    _press(page, "0")
    _press(page, "2")
    assert page.locator("#today").inner_text() == "3"
    before_undo = page.locator("#review").get_attribute("data-lease")
    _press(page, "u")
    assert "undone" in page.locator(".messages").inner_text()
    assert page.locator("#today").inner_text() == "2"
    assert page.locator("#review").get_attribute("data-lease") != before_undo
    _press(page, "3")
    _press(page, "s")
    val = data["validator"]
    assert Judgement.objects.filter(validator=val, undone_at__isnull=True).count() == 3
    assert Judgement.objects.filter(validator=val, undone_at__isnull=False).count() == 1
    # (the in-memory SQLite of the tests refuses concurrent writers: let the prefetch finish)
    page.wait_for_selector("#prefetch.fetched", state="attached")
    page.goto(f"{base}/review/feedback/")
    assert "Your feedback" in page.inner_text("h1")
    # validators may not open admin pages
    resp = page.goto(f"{base}/runs/")
    assert resp.status == 403

    # --- admin: thresholds on the triage page, export download
    ctx2 = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = ctx2.new_page()
    _login(page, base, "ada", "ada-pw")
    assert page.url == f"{base}/"  # admins land on the home page (what needs attention)
    page.goto(f"{base}/runs/{data['run'].pk}/triage/")
    page.fill("#id_accept", "0.8")
    page.fill("#id_review", "0.4")
    with page.expect_navigation():
        page.click("#apply-btn")
    assert "Routed:" in page.locator(".messages").inner_text()
    assert page.input_value("#id_accept") == "0.8"
    assert page.locator("svg.pr-curve circle").count() == 2
    page.screenshot(path=str(shots / "triage-page.png"))
    with page.expect_download() as dl:
        page.click("#export-btn")
    path = tmp_path / "export.csv"
    dl.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("query_offer_id,query_shop,matched_offer_id")
    assert any(",human," in line for line in lines[1:]) or len(lines) > 1
    ctx.close()
    ctx2.close()


# --------------------------------------------------------------------------- the next row at once

# Installed before a key press: t0 when the keydown reaches the page; t1 at the first animation
# frame where a new review panel is in the document with every image decoded (visible: the
# prefetched panel, shown at the key press); t2 when the server's answer to the judgement has
# replaced it (confirmed), with the lease of each.
_WATCH = """() => {
  const old = document.getElementById("review");
  window.__t0 = window.__t1 = window.__t2 = undefined;
  window.addEventListener("keydown", () => { window.__t0 = performance.now(); },
                          {capture: true, once: true});
  const check = () => {
    const cur = document.getElementById("review");
    if (cur && cur !== old) {
      const imgs = Array.from(cur.querySelectorAll(".review-grid img"));
      if (window.__t1 === undefined && imgs.every((i) => i.complete && i.naturalWidth > 0)) {
        window.__t1 = performance.now();
        window.__shown = cur.dataset.lease;
      }
      if (!old.isConnected && !cur.classList.contains("provisional")) {
        window.__t2 = performance.now();
        window.__confirmed = cur.dataset.lease;
      }
    }
    if (window.__t2 === undefined) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}"""

_PANEL_IMAGES = """() => Array.from(document.querySelectorAll("#review .review-grid img"),
                                      (i) => new URL(i.src).pathname)"""


@pytest.fixture
def many_rows(data):
    """More rows than the 20 key presses measured (the demo-like run of `data`, larger)."""
    run = create_synthetic_run(n_queries=90, seed=11)
    route_run(run=run, accept=0.85, review=0.45)
    from django.conf import settings

    _add_images(settings.MEDIA_ROOT, Offer.objects.filter(images__isnull=True))
    assert ReviewRow.objects.filter(status="open").count() >= 25
    return data


def test_next_row_appears_at_once_with_images_fetched_ahead(live_server, many_rows, browser):
    base = live_server.url
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    page = ctx.new_page()
    media: list[tuple[float, str]] = []  # (time, path) of every image request
    page.on(
        "request",
        lambda r: (
            media.append((time.monotonic(), urlparse(r.url).path)) if "/media/" in r.url else None
        ),
    )
    _login(page, base, "vera", "vera-pw")
    assert page.url.endswith("/review/")
    latencies, confirmed = [], []
    for i in range(20):
        # the validator looks at the row: the next row's images arrive meanwhile (/review/next/)
        page.wait_for_selector("#prefetch.fetched img", state="attached")
        page.wait_for_timeout(150)
        before = page.locator("#review").get_attribute("data-lease")
        page.evaluate(_WATCH)
        pressed = time.monotonic()
        page.keyboard.press("1" if i % 2 else "0")
        page.wait_for_function("window.__t2 !== undefined", timeout=10_000)
        latencies.append(page.evaluate("window.__t1 - window.__t0"))
        confirmed.append(page.evaluate("window.__t2 - window.__t0"))
        # the row shown at once is the row the server hands out after the judgement
        shown_lease, confirmed_lease = page.evaluate("[window.__shown, window.__confirmed]")
        assert shown_lease == confirmed_lease != before
        assert page.locator("#review").get_attribute("data-lease") == confirmed_lease
        shown = set(page.evaluate(_PANEL_IMAGES))
        assert shown, "the next row has images"
        ahead = {path for t, path in media if t < pressed}
        after = {path for t, path in media if t >= pressed}
        assert shown <= ahead, "the next row's images were fetched before the key press"
        assert not shown & after, "no image of the next row was fetched after the key press"
    val = many_rows["validator"]
    assert Judgement.objects.filter(validator=val, undone_at__isnull=True).count() == 20
    page.wait_for_selector("#prefetch.fetched img", state="attached")
    assert ReviewLease.objects.filter(validator=val).count() == 2  # on screen + prefetched
    median = statistics.median(latencies)
    print(
        f"\nkey press -> next row visible over 20 rows: median {median:.1f} ms, "
        f"max {max(latencies):.1f} ms, all {[round(x) for x in latencies]}; "
        f"-> server's answer in place: median {statistics.median(confirmed):.1f} ms, "
        f"max {max(confirmed):.1f} ms"
    )
    assert median <= 150, latencies
    # undo and skip swap in place too
    today = page.locator("#today").inner_text()
    _press(page, "u")
    assert "undone" in page.locator(".messages").inner_text()
    assert page.locator(".messages").count() == 1
    assert int(page.locator("#today").inner_text()) == int(today) - 1
    _press(page, "s")
    assert Judgement.objects.filter(validator=val, undone_at__isnull=True).count() == 19
    ctx.close()


def test_review_without_javascript(live_server, data, browser):
    """JavaScript off: the keys do nothing, the buttons post the form and the server redirects
    to the review page with the next row."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, java_script_enabled=False)
    page = ctx.new_page()
    _login(page, live_server.url, "vera", "vera-pw")
    first = page.locator("#review").get_attribute("data-lease")
    with page.expect_navigation():
        page.click('button.choose[value="2"]')
    assert page.url.endswith("/review/")
    assert page.locator("#review").get_attribute("data-lease") != first
    assert page.locator("#today").inner_text() == "1"
    with page.expect_navigation():
        page.click("#undo-form button")
    assert "undone" in page.locator(".messages").inner_text()
    assert page.locator("#review").get_attribute("data-lease") != first  # the undone row
    with page.expect_navigation():
        page.click("#skip-form button")
    val = data["validator"]
    assert Judgement.objects.filter(validator=val, undone_at__isnull=True).count() == 0
    assert ReviewLease.objects.filter(validator=val).count() == 1  # no prefetch without JS
    ctx.close()
