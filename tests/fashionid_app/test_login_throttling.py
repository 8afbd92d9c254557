"""Failed logins are throttled (django-axes): after AXES_FAILURE_LIMIT failures for one
username from one address, even the right password is refused until the lock ends or an admin
lifts it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest
from django.utils import timezone

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PASSWORD = "right-pw-123456"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user():
    return User.objects.create_user("vera", password=PASSWORD)


def login(client, username: str, password: str, *, ip: str = "10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def fail(client, times: int, *, username: str = "vera", ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        response = login(client, username, "wrong", ip=ip)
        assert response.status_code in {200, 429}


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_settings_lock_after_five_failures_for_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AUTHENTICATION_BACKENDS[0].startswith("axes.backends.")


def test_after_the_limit_even_the_right_password_is_refused(client, user, settings):
    fail(client, settings.AXES_FAILURE_LIMIT)
    response = login(client, "vera", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Login locked" in page and "Too many failed logins" in page
    assert "axes_reset_username" in page


def test_below_the_limit_the_right_password_works_and_resets_the_count(client, user, settings):
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    response = login(client, "vera", PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    client.logout()
    fail(client, settings.AXES_FAILURE_LIMIT - 1)  # counted from zero again
    assert login(client, "vera", PASSWORD).status_code == 302


def test_lock_is_per_username_and_address(client, user, settings):
    User.objects.create_user("ada", password=PASSWORD)
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert login(client, "ada", PASSWORD).status_code == 302  # another user: not locked
    client.logout()
    assert login(client, "vera", PASSWORD, ip="10.0.0.2").status_code == 302  # other address


def test_the_lock_ends_after_the_cool_off(client, user, settings):
    from axes.models import AccessAttempt

    fail(client, settings.AXES_FAILURE_LIMIT)
    assert login(client, "vera", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert login(client, "vera", PASSWORD).status_code == 302


def test_an_admin_lifts_the_lock_with_the_reset_command(client, user, settings):
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert login(client, "vera", PASSWORD).status_code == 429
    call_command("axes_reset_username", "vera")
    assert login(client, "vera", PASSWORD).status_code == 302


def test_client_login_works_when_given_a_request(client, user):
    """The axes backend needs the request: tests that use client.login pass one."""
    assert client.login(request=HttpRequest(), username="vera", password=PASSWORD)
