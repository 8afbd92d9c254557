"""No Docker engine here: check the compose file's shape and that commands are real."""

import importlib
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def commands_of(service: dict) -> list[list[str]]:
    command = service.get("command")
    if command is None:
        return []
    if isinstance(command, list):
        return [command]
    text = command
    if text.startswith("sh -c "):
        text = shlex.split(text)[2]
    return [shlex.split(part) for part in text.split("&&")]


def test_services_present():
    assert set(COMPOSE["services"]) >= {"postgres", "redis", "web", "worker", "gpu-worker"}
    assert {"media", "pgdata"} <= set(COMPOSE["volumes"])


def test_gpu_worker_reserves_an_nvidia_device_and_serves_the_gpu_queue():
    gpu = COMPOSE["services"]["gpu-worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert commands_of(gpu) == [["python", "manage.py", "rqworker", "gpu"]]


@pytest.mark.parametrize("name", ["web", "worker", "gpu-worker"])
def test_every_command_names_a_real_entry_point(name, settings):
    service = COMPOSE["services"][name]
    known = get_commands()
    for argv in commands_of(service):
        if argv[:2] == ["python", "manage.py"]:
            assert argv[2] in known, f"{name}: no management command {argv[2]!r}"
            if argv[2] == "rqworker":
                assert set(argv[3:]) <= set(settings.JOB_QUEUES)
        elif argv[0] == "gunicorn":
            module, _, attribute = argv[1].partition(":")
            assert hasattr(importlib.import_module(module), attribute)
        else:
            pytest.fail(f"{name}: unexpected command {argv}")


def test_app_services_use_postgres_and_redis():
    web = COMPOSE["services"]["web"]
    assert web["environment"]["DATABASE_URL"].startswith("postgres://")
    assert web["environment"]["REDIS_URL"].startswith("redis://")
    assert (ROOT / "Dockerfile").is_file()


def test_https_settings_can_be_set_when_composing():
    """Production defaults to HTTPS only; the intranet override reaches the containers."""
    env = COMPOSE["services"]["web"]["environment"]
    assert env["FASHIONID_HTTPS"] == "${FASHIONID_HTTPS:-1}"
    assert env["FASHIONID_TLS_PROXY"] == "${FASHIONID_TLS_PROXY:-0}"
