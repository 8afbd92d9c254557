import pytest
from django.contrib.auth.models import Group, User

pytestmark = pytest.mark.django_db


def make_user(name: str, *, group: str | None = None, superuser: bool = False) -> User:
    if superuser:
        return User.objects.create_superuser(name, password="pw-123456")
    user = User.objects.create_user(name, password="pw-123456")
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def media(settings):
    """A media folder as the app fills it: offer images, a model, a plot, embeddings."""
    files = {
        "offers/254x367/ab/abcd.jpg": b"offer-image",
        "offers/original/ab/abcd.png": b"offer-original",
        "models/projection-1.pt": b"weights",
        "runs/run-1-pr.png": b"plot",
        "embeddings/1/chunk.npy": b"vectors",
        "other.txt": b"other",
    }
    for name, data in files.items():
        path = settings.MEDIA_ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_media_requires_login(client, media):
    for name in media:
        response = client.get(f"/media/{name}")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_validator_reads_offer_images_only(client, media):
    client.force_login(make_user("val", group="Validators"))
    assert body(client.get("/media/offers/254x367/ab/abcd.jpg")) == b"offer-image"
    assert body(client.get("/media/offers/original/ab/abcd.png")) == b"offer-original"
    for name in (
        "models/projection-1.pt",
        "runs/run-1-pr.png",
        "embeddings/1/chunk.npy",
        "other.txt",
        "offers/../models/projection-1.pt",  # normalised before the rule is applied
        "offers/254x367/../../runs/run-1-pr.png",
    ):
        assert client.get(f"/media/{name}").status_code == 403, name


def test_user_without_role_reads_no_media(client, media):
    client.force_login(make_user("nobody"))
    assert client.get("/media/offers/254x367/ab/abcd.jpg").status_code == 403
    assert client.get("/media/models/projection-1.pt").status_code == 403


@pytest.mark.parametrize("how", ["superuser", "Admins"])
def test_admin_reads_all_of_media(client, media, how):
    user = (
        make_user("adm", superuser=True) if how == "superuser" else make_user("adm", group="Admins")
    )
    client.force_login(user)
    for name, data in media.items():
        assert body(client.get(f"/media/{name}")) == data


def test_path_traversal_out_of_media_is_refused(client, media, settings):
    (settings.MEDIA_ROOT.parent / "outside.txt").write_text("secret")
    for user in (make_user("val", group="Validators"), make_user("adm", superuser=True)):
        client.force_login(user)
        for name in ("../outside.txt", "offers/../../outside.txt", "%2e%2e/outside.txt"):
            response = client.get(f"/media/{name}")
            assert response.status_code in {400, 403, 404}, (user, name, response.status_code)
            if hasattr(response, "streaming_content"):
                assert b"secret" not in body(response)


def test_login_page_renders_with_csrf(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


def test_roles_land_on_their_start_page(client):
    client.force_login(make_user("val", group="Validators"))
    assert client.get("/")["Location"] == "/review/"
    # admins land on the home page: what needs attention (tests/operations/test_home.py)
    client.force_login(make_user("adm", group="Admins"))
    assert "Needs attention" in client.get("/").content.decode()
    client.force_login(make_user("root", superuser=True))
    assert "Needs attention" in client.get("/").content.decode()


def test_groups_are_created_by_a_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Admins", "Validators"}


@pytest.mark.sqlite
def test_job_dashboard_without_redis_says_jobs_run_inline(client, settings):
    settings.REDIS_URL = ""
    client.force_login(make_user("root", superuser=True))
    for url in ("/admin/rq/", "/admin/rq/queues/0/", "/admin/rq/stats.json"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Jobs run inline" in response.content


def test_job_dashboard_is_for_admins_only(client, settings):
    settings.REDIS_URL = ""
    assert client.get("/admin/rq/").status_code == 302  # anonymous: to the login page
    client.force_login(make_user("val", group="Validators"))
    assert client.get("/admin/rq/").status_code == 403


@pytest.mark.redis
def test_job_dashboard_with_redis_is_django_rq(client):
    client.force_login(make_user("root", superuser=True))
    response = client.get("/admin/rq/")
    assert response.status_code == 200
    assert b"Jobs run inline" not in response.content
    assert b"default" in response.content and b"export" in response.content
