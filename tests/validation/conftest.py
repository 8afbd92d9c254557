from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from demo.synthetic_run import create_synthetic_run
from validation.models import ReviewSettings


def make_user(name: str, group: str | None = "Validators", **extra):
    user = get_user_model().objects.create_user(username=name, password="pw-" + name, **extra)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def validators(db):
    return [make_user(f"val{i}") for i in range(1, 6)]


@pytest.fixture
def admin_user(db):
    return make_user("boss", "Admins")


@pytest.fixture
def run(db):
    return create_synthetic_run(n_queries=40, seed=1)


@pytest.fixture
def cfg(db):
    return ReviewSettings.load()


@pytest.fixture(autouse=True)
def _fast_settings(settings, tmp_path):
    settings.FASHIONID_EXPORT_DIR = tmp_path / "exports"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
