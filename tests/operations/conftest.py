from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from demo.catalogue import generate_demo_catalogue
from matching.catalogue_import import import_catalogue


def make_user(name: str, *, group: str) -> User:
    user = User.objects.create_user(name, password="pw-123456")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def admin_user(db) -> User:
    return make_user("ada", group="Admins")


@pytest.fixture
def validator_user(db) -> User:
    return make_user("vera", group="Validators")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def demo_shops(db, tmp_path) -> list[str]:
    """The demo catalogue (three shops with images and product ids), imported; shop names by
    size, largest first."""
    generate_demo_catalogue(directory=tmp_path / "demo-catalogue", n_products=12, seed=3)
    import_catalogue(directory=tmp_path / "demo-catalogue")
    from django.db.models import Count

    from matching.models import Shop

    return list(
        Shop.objects.annotate(n=Count("offers"))
        .order_by("-n", "name")
        .values_list("name", flat=True)
    )
