from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from api.services import create_token
from demo.synthetic_run import create_synthetic_run
from validation.services.routing import route_run


def make_user(name: str, group: str | None = "Validators", **extra):
    user = get_user_model().objects.create_user(username=name, password="pw-" + name, **extra)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def routed(db):
    run = create_synthetic_run(n_queries=40, seed=1)
    route_run(run=run, accept=0.8, review=0.5)
    return run


@pytest.fixture
def token(db):
    return create_token(name="shop-feed")[1]


@pytest.fixture
def api(client, token):
    """A test client that sends the token."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client
