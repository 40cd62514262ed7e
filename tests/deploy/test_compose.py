"""compose.yaml, checked without a Docker engine: the Compose Specification's schema and Relay's invariants."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from worker.cli import main as relay_cli

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
RELAY_ROLES = ("webhooks", "worker", "beat")
_INTERPOLATION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?::?[-?][^}]*)?\}$")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|WEBHOOK|KEY")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves the x-relay anchor and its << merges
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    if not Path(found).exists():
        pytest.fail("check-jsonschema is not installed: pip install -e '.[test]'")
    return found


def test_compose_file_follows_the_compose_specification() -> None:
    # The schema is vendored in check-jsonschema: no network needed.
    result = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_an_invalid_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  redis:\n    image: redis\n    scale_to: 3  # not a Compose key\n", encoding="utf-8")
    result = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0


def test_redis_keeps_its_queue_on_disk_and_never_evicts() -> None:
    redis = _services()["redis"]
    flags = dict(zip(redis["command"][1::2], redis["command"][2::2], strict=False))
    assert flags == {"--appendonly": "yes", "--appendfsync": "everysec", "--maxmemory-policy": "noeviction"}
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert "healthcheck" in redis
    assert "ports" not in redis  # only the compose network reaches it


def test_exactly_one_beat() -> None:
    services = _services()
    beats = [name for name, service in services.items() if "beat" in service.get("command", [])]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_workers_scale() -> None:
    worker = _services()["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker  # a fixed host port would make a second replica fail to start


@pytest.mark.parametrize("role", RELAY_ROLES)
def test_every_role_has_health_check_restart_policy_and_waits_for_a_healthy_redis(role: str) -> None:
    service = _services()[role]
    assert service["healthcheck"]["test"][0] == "CMD"
    assert service["restart"] == "unless-stopped"
    assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_optional_services_sit_behind_profiles() -> None:
    services = _services()
    assert services["flower"]["profiles"] == ["ops"]
    assert services["sandbox"]["profiles"] == ["sandbox"]


def test_only_the_receiver_publishes_on_every_interface() -> None:
    published = {
        name: port
        for name, service in _services().items()
        for port in service.get("ports", [])
        if not port.startswith("127.0.0.1:")
    }
    assert list(published) == ["webhooks"]  # flower and the sandbox bind 127.0.0.1 only


def test_metrics_on_the_public_port_need_a_token() -> None:
    webhooks = _services()["webhooks"]
    assert webhooks["environment"]["RELAY_RECEIVER__METRICS_TOKEN"].startswith("${RELAY_METRICS_TOKEN:?")
    assert [port.split(":")[-1] for port in webhooks["ports"]] == ["8000"]  # no other port published


def _environment_values() -> list[tuple[str, str, str]]:
    return [
        (name, key, str(value))
        for name, service in _services().items()
        for key, value in (service.get("environment") or {}).items()
    ]


@pytest.mark.parametrize(("service", "variable", "value"), _environment_values())
def test_no_secret_is_written_in_the_file(service: str, variable: str, value: str) -> None:
    if _SECRET_NAME.search(variable):
        assert _INTERPOLATION.match(value), f"{service}.{variable} must come from the env file as ${{...}}"


def _example_variables() -> set[str]:
    text = (ROOT / "relay.example.yaml").read_text(encoding="utf-8")
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # ${NAME} in a comment is prose
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", body))


@pytest.mark.parametrize("role", RELAY_ROLES)
def test_every_variable_the_example_configuration_uses_is_passed(role: str) -> None:
    environment = _services()[role]["environment"]
    assert _example_variables(), "relay.example.yaml uses no ${VAR}: this test checks nothing"
    assert _example_variables() - set(environment) == set()
    for variable in _example_variables():
        assert environment[variable] == f"${{{variable}:-}}"  # the env file's value, passed through
    assert environment["RELAY_CONFIG"] == "/etc/relay/relay.yaml"
    assert environment["RELAY_TOKEN_KEY"].startswith("${RELAY_TOKEN_KEY:?")  # required, never defaulted
    assert any(volume.endswith(":/etc/relay/relay.yaml:ro") for volume in _services()[role]["volumes"])


def _commands() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for name, service in _services().items():
        if service.get("image", "").startswith("relay"):
            found.append((name, service["command"]))
            if "healthcheck" in service and service["healthcheck"]["test"][1] == "relay":
                found.append((f"{name} healthcheck", service["healthcheck"]["test"][1:]))
    return found


def _relay_command_exists(args: list[str]) -> bool:
    command: click.Command = relay_cli
    for word in args:
        if word.startswith("-") or not isinstance(command, click.Group):
            break
        sub = command.commands.get(word)
        if sub is None:
            return False
        command = sub
    return not isinstance(command, click.Group)  # a group alone only prints its help


def _celery_command_exists(args: list[str]) -> bool:
    from celery.bin.celery import celery

    import worker

    # ``celery -A worker`` loads worker.app (a lazy attribute of the package).
    return args[:2] == ["-A", "worker"] and worker.app.main == "relay" and args[2] in celery.commands


@pytest.mark.parametrize(("service", "command"), _commands())
def test_every_command_exists_in_the_image(service: str, command: list[str]) -> None:
    from importlib.metadata import entry_points

    scripts = {point.name for point in entry_points(group="console_scripts")}
    assert command[0] in scripts
    check = {"relay": _relay_command_exists, "celery": _celery_command_exists}[command[0]]
    assert check(command[1:]), f"{service}: {' '.join(command)} is not a command of the image"
