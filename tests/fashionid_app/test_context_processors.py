import pytest
from django.contrib.auth.models import Group, User

from matching.catalogue_import import import_catalogue

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def page_for_validator(client) -> str:
    user = User.objects.create_user("v1", password="pw-123456")
    user.groups.add(Group.objects.get(name="Validators"))
    client.force_login(user)
    return client.get("/", follow=True).content.decode()


def test_generated_demo_data_is_labelled_synthetic(client, write_catalogue):
    folder = write_catalogue(
        [{"offer_id": "1", "shop": "s", "title": "t"}], name="synthetic-demo-catalogue"
    )
    import_catalogue(directory=folder)
    assert "synthetic demo data" in page_for_validator(client)


def test_real_data_is_not_labelled(client, write_catalogue):
    import_catalogue(directory=write_catalogue([{"offer_id": "1", "shop": "s", "title": "t"}]))
    assert "synthetic demo data" not in page_for_validator(client)
