"""One "synthetic data" signal: Shop.synthetic, set by whoever imports generated data (the demo
command for its catalogue). Folder names and the environment no longer decide."""

import pytest
from django.contrib.auth.models import Group, User

from demo.services import mark_shops_synthetic
from matching.catalogue_import import import_catalogue

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def page_for_validator(client) -> str:
    user, _ = User.objects.get_or_create(username="v1")
    user.groups.add(Group.objects.get(name="Validators"))
    client.force_login(user)
    return client.get("/", follow=True).content.decode()


def test_shops_marked_synthetic_are_labelled(client, write_catalogue):
    import_catalogue(directory=write_catalogue([{"offer_id": "1", "shop": "s", "title": "t"}]))
    assert "synthetic demo data" not in page_for_validator(client)
    assert mark_shops_synthetic(names=["s"]) == 1
    assert "synthetic demo data" in page_for_validator(client)


def test_a_folder_name_does_not_make_real_data_synthetic(client, write_catalogue):
    folder = write_catalogue(
        [{"offer_id": "1", "shop": "s", "title": "t"}], name="synthetic-demo-catalogue"
    )
    import_catalogue(directory=folder)
    assert "synthetic demo data" not in page_for_validator(client)


def test_the_environment_does_not_make_real_data_synthetic(client, write_catalogue, monkeypatch):
    monkeypatch.setenv("FASHIONID_SYNTHETIC_DATA", "1")
    import_catalogue(directory=write_catalogue([{"offer_id": "1", "shop": "s", "title": "t"}]))
    assert "synthetic demo data" not in page_for_validator(client)


def test_anonymous_pages_carry_no_label(client):
    mark_shops_synthetic(names=[])
    assert "synthetic demo data" not in client.get("/accounts/login/").content.decode()
