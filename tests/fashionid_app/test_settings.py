"""Production settings: `check --deploy` passes with no warning when DEBUG is off; each HTTPS
setting can be turned off from the environment for a plain-HTTP intranet install; every
setting the code reads is declared in settings.py."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("core", "demo", "fashionid_app", "matching", "validation", "bench")


def production_env(tmp_path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS", "SECRET_KEY"}
        and not k.startswith(("FASHIONID_", "DJANGO_"))
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="fashionid.example.com",
        FASHIONID_VAR_DIR=str(tmp_path / "var"),
    )
    env.update(extra)
    return env


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def settings_in(env: dict, *names: str) -> dict:
    """Values of settings.py as a fresh process with `env` reads them."""
    code = (
        "import json, fashionid_app.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}, default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_check_deploy_has_no_warnings_with_production_settings(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_https_only(tmp_path):
    values = settings_in(
        production_env(tmp_path),
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "X_FRAME_OPTIONS",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "X_FRAME_OPTIONS": "DENY",
    }


def test_plain_http_intranet_override_turns_the_https_settings_off(tmp_path):
    env = production_env(tmp_path, FASHIONID_HTTPS="0")
    values = settings_in(
        env,
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
    )
    assert not any(values.values()), values
    # check --deploy then names exactly the HTTPS-only checks, as the README says
    result = check_deploy(env)
    assert result.returncode != 0
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    assert found == {"security.W004", "security.W008", "security.W012", "security.W016"}


def test_tls_proxy_header_is_trusted_only_when_asked(tmp_path):
    values = settings_in(production_env(tmp_path), "SECURE_PROXY_SSL_HEADER")
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    values = settings_in(
        production_env(tmp_path, FASHIONID_TLS_PROXY="1"), "SECURE_PROXY_SSL_HEADER"
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_debug_development_settings_serve_plain_http(tmp_path):
    env = production_env(tmp_path, DEBUG="1")
    values = settings_in(env, "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE")
    assert values == {"SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False}


def test_settings_read_by_the_code_are_declared_and_read_from_the_environment(tmp_path):
    env = production_env(
        tmp_path,
        FASHIONID_EXPORT_DIR=str(tmp_path / "exports-here"),
        FASHIONID_ENCODE_WORKERS="5",
        FASHIONID_IMPORT_LINK_ORIGINALS="1",
        FASHIONID_LOGIN_FAILURE_LIMIT="7",
        FASHIONID_LOGIN_LOCKOUT_MINUTES="30",
    )
    values = settings_in(
        env,
        "FASHIONID_EXPORT_DIR",
        "FASHIONID_ENCODE_WORKERS",
        "FASHIONID_IMPORT_LINK_ORIGINALS",
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
    )
    assert values == {
        "FASHIONID_EXPORT_DIR": str(tmp_path / "exports-here"),
        "FASHIONID_ENCODE_WORKERS": 5,
        "FASHIONID_IMPORT_LINK_ORIGINALS": True,
        "AXES_FAILURE_LIMIT": 7,
        "AXES_COOLOFF_TIME": "0:30:00",
    }


def test_a_malformed_number_is_refused_by_name(tmp_path):
    code = "import fashionid_app.settings"
    env = production_env(tmp_path, FASHIONID_ENCODE_WORKERS="two")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "FASHIONID_ENCODE_WORKERS must be an integer" in out.stderr


@pytest.mark.parametrize("folder", SOURCE_DIRS)
def test_no_setting_is_read_with_a_fallback_default(folder):
    """A setting read as getattr(settings, "X", default) is undeclared: declare it instead."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"getattr\(\s*settings\s*,", line)
    ]
    assert offenders == []
