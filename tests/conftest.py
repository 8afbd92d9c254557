"""Fixtures shared by the whole suite.

Every test gets its own MEDIA_ROOT under tmp_path. Jobs run inline unless a test is marked
`redis` (then it uses the real Redis server of the test command, via REDIS_URL).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from matching.catalogue_rows import COLUMNS as CATALOGUE_COLUMNS


def pytest_configure(config):
    """The test client and the browser tests' live server speak plain HTTP, like an intranet
    install with FASHIONID_HTTPS=0 (set here, before any middleware reads it; the production
    HTTPS settings are checked by tests/fashionid_app/test_settings.py with `check --deploy`)."""
    if not config.pluginmanager.hasplugin("django"):
        return
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0


@pytest.fixture(autouse=True)
def _isolated_settings(request, tmp_path_factory):
    """A fresh MEDIA_ROOT per test; jobs inline unless the test is marked `redis`."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield  # the plain ML library tests may run without pytest-django
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    if request.node.get_closest_marker("redis"):
        url = os.environ.get("REDIS_URL")
        if not url:
            pytest.skip("needs a Redis server (REDIS_URL); run the README test command")
        settings.REDIS_URL = url
        settings.RQ_QUEUES = {
            name: {"URL": url, "DEFAULT_TIMEOUT": 600} for name in settings.JOB_QUEUES
        }
    else:
        settings.REDIS_URL = ""
    yield


@pytest.fixture
def postgres_only(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the README test command provides it)")


def _image(path: Path, *, colour: tuple[int, int, int], size=(60, 80)) -> None:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle(
        [size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2], fill=(255 - colour[0], 20, 20)
    )
    image.save(path)


@pytest.fixture
def write_catalogue(tmp_path) -> Callable[..., Path]:
    """Write a small catalogue folder: rows are dicts of the catalogue columns.

    An `images` value given as a list of (name, colour) tuples creates those image files.
    Returns the folder.
    """
    counter = {"n": 0}

    def write(rows: list[dict], *, columns=CATALOGUE_COLUMNS, name: str | None = None) -> Path:
        counter["n"] += 1
        folder = tmp_path / (name or f"catalogue{counter['n']}")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "offers.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                row = dict(row)
                images = row.get("images", "")
                if isinstance(images, list):
                    names = []
                    for image_name, colour in images:
                        _image(folder / image_name, colour=colour)
                        names.append(image_name)
                    row["images"] = "|".join(names)
                writer.writerow([row.get(column, "") for column in columns])
        return folder

    return write
