"""Tokens: hashed, printed once, revocable; nothing but a valid token opens the API."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from api.models import ApiToken
from api.tokens import hash_token

from .conftest import make_user

URL = "/api/v1/matches/"


def test_urls():
    assert reverse("api:matches") == URL


def test_no_token_is_401(client, routed):
    resp = client.get(URL)
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header", ["Token not-a-token", "Bearer not-a-token", "Token", "Token a b", "Token \u00e9"]
)
def test_bad_token_is_401(client, routed, token, header):
    resp = client.get(URL, HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))
    assert resp.status_code == 401


def test_valid_token_200_and_bearer_too(client, routed, token):
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_revoked_token_is_401(api, routed, token):
    assert api.get(URL).status_code == 200
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    resp = api.get(URL)
    assert resp.status_code == 401
    assert "revoked" in resp.json()["detail"]


@pytest.mark.parametrize("who", ["validator", "admin", "superuser"])
def test_session_login_gives_no_api_access(client, routed, who):
    if who == "validator":
        user = make_user("val1")
    elif who == "admin":
        user = make_user("boss", "Admins", is_staff=True)
    else:
        user = make_user("root", None, is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get(reverse("validation:review")).status_code in (200, 302)  # logged in
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_read_only(api, client, routed, method):
    assert getattr(api, method)(URL, data={}, content_type="application/json").status_code == 405
    del client.defaults["HTTP_AUTHORIZATION"]
    assert getattr(client, method)(URL).status_code == 401


def test_create_api_token_command_prints_a_token_stored_only_as_hash(client, routed):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "erp", stdout=out, stderr=err)
    plain = out.getvalue().strip()
    assert len(plain) >= 40 and "erp" in err.getvalue()
    row = ApiToken.objects.get(name="erp")
    assert row.key_hash == hash_token(plain) and row.prefix == plain[:8]
    stored = [str(v) for v in ApiToken.objects.values_list().get()]
    assert plain not in stored
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {plain}").status_code == 200
    # a second token for the same system is a different one
    call_command("create_api_token", "erp", stdout=(out2 := io.StringIO()), stderr=err)
    assert out2.getvalue().strip() != plain


def test_create_api_token_needs_a_name(db):
    with pytest.raises(CommandError, match="name"):
        call_command("create_api_token", "  ", stdout=io.StringIO(), stderr=io.StringIO())


def test_admin_revokes_tokens(client, routed, token):
    admin = make_user("root", None, is_staff=True, is_superuser=True)
    client.force_login(admin)
    row = ApiToken.objects.get()
    listing = client.get("/admin/api/apitoken/")
    assert listing.status_code == 200 and row.prefix in listing.content.decode()
    assert token not in listing.content.decode()
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    resp = client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [row.pk]})
    assert resp.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    client.logout()
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {token}").status_code == 401


def test_schema_and_docs(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    doc = schema.json()
    assert "/api/v1/matches/" in doc["paths"]
    assert "ApiToken" in doc["components"]["securitySchemes"]
    params = {p["name"] for p in doc["paths"]["/api/v1/matches/"]["get"]["parameters"]}
    assert {"shop", "updated_since", "run", "cursor", "page_size"} <= params
    assert set(doc["paths"]["/api/v1/matches/"]) == {"get"}
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
