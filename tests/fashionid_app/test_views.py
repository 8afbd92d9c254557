import pytest
from django.contrib.auth.models import Group, User

pytestmark = pytest.mark.django_db


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_media_requires_login(client, settings):
    (settings.MEDIA_ROOT / "x.txt").write_text("secret")
    assert client.get("/media/x.txt").status_code == 302
    client.force_login(User.objects.create_user("v", password="pw-123456"))
    response = client.get("/media/x.txt")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"secret"


def test_login_page_renders_with_csrf(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


def test_roles_land_on_their_start_page(client):
    validator = User.objects.create_user("val", password="pw-123456")
    validator.groups.add(Group.objects.get(name="Validators"))
    client.force_login(validator)
    assert client.get("/").status_code == 302
    admin = User.objects.create_user("adm", password="pw-123456")
    admin.groups.add(Group.objects.get(name="Admins"))
    client.force_login(admin)
    assert client.get("/").status_code == 302


def test_groups_are_created_by_a_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Admins", "Validators"}
