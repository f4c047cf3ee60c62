"""Docker is not available here, so the compose file is checked for what it promises."""

from __future__ import annotations

import base64
import re
from typing import Any

import yaml

from order_service.http.cross_site import host_name, served_hosts
from order_service.settings import Settings
from tests.engines import ROOT

PRODUCTION_COMMANDS = {
    "commands": ["orders", "serve", "commands"],
    "search": ["orders", "serve", "search"],
    "projector": ["orders", "project", "order-search", "customer-orders", "daily-sales"],
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_it_runs_both_engines_and_the_three_production_processes() -> None:
    services = compose()["services"]

    assert services["eventstoredb"]["image"].startswith("eventstore/eventstore:24.10")
    assert services["elasticsearch"]["image"].endswith(":8.19.21")
    for name, command in PRODUCTION_COMMANDS.items():
        assert services[name]["command"] == command
        assert services[name]["build"] == "."


ENGINES = ("eventstoredb", "elasticsearch")


def test_every_service_has_a_health_check() -> None:
    for name, service in compose()["services"].items():
        assert service["healthcheck"]["test"], name


def test_the_engines_are_reachable_only_on_the_internal_network() -> None:
    services = compose()["services"]
    assert compose()["networks"]["engines"]["internal"] is True
    for name in ENGINES:
        assert "ports" not in services[name], f"{name} publishes a port"
        assert services[name]["networks"] == ["engines"], name
    assert services["certs"]["network_mode"] == "none"
    for name in PRODUCTION_COMMANDS:
        assert "engines" in services[name]["networks"], name


def test_only_the_two_apis_are_published_beyond_the_host() -> None:
    services = compose()["services"]
    published = {
        name: port
        for name, service in services.items()
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    }
    assert published == {"commands": "8001:8000", "search": "8002:8000"}


def test_long_running_services_restart_and_the_one_shot_does_not() -> None:
    for name, service in compose()["services"].items():
        expected = "no" if name == "certs" else "unless-stopped"
        assert service["restart"] == expected, name


def test_every_image_is_pinned_to_a_release() -> None:
    for name, service in compose()["services"].items():
        image = service["image"]
        assert re.search(r":\d+\.\d+\.\d+", image), f"{name} runs {image}, not a pinned release"
    base = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm\b", base, re.MULTILINE)


def test_the_engines_run_with_their_own_security_on() -> None:
    services = compose()["services"]
    eventstore = services["eventstoredb"]["environment"]
    elastic = services["elasticsearch"]["environment"]

    assert eventstore["EVENTSTORE_INSECURE"] == "false"
    assert eventstore["EVENTSTORE_CERTIFICATE_FILE"].startswith("/certs/")
    assert "${EVENTSTORE_ADMIN_PASSWORD:?" in eventstore["EVENTSTORE_DEFAULT_ADMIN_PASSWORD"]
    assert elastic["xpack.security.enabled"] == "true"
    assert elastic["xpack.security.http.ssl.enabled"] == "true"
    assert "${ELASTIC_PASSWORD:?" in elastic["ELASTIC_PASSWORD"]


def test_the_orders_processes_connect_with_tls_and_credentials_and_never_run_open() -> None:
    for name in PRODUCTION_COMMANDS:
        service = compose()["services"][name]
        environment = service["environment"]
        assert "tls=true" in environment["ORDERS_EVENT_STORE"]
        assert "tlsCaFile=/certs/ca/ca.crt" in environment["ORDERS_EVENT_STORE"]
        assert "admin:${EVENTSTORE_ADMIN_PASSWORD:?" in environment["ORDERS_EVENT_STORE"]
        assert environment["ORDERS_READ_MODEL"].startswith("https://")
        assert environment["ORDERS_ES_CA_FILE"] == "/certs/ca/ca.crt"
        assert "${ORDERS_SESSION_SECRET:?" in environment["ORDERS_SESSION_SECRET"]
        assert "${ORDERS_KEY_ENCRYPTION_KEY:?" in environment["ORDERS_KEY_ENCRYPTION_KEY"]
        assert "--insecure-no-auth" not in service["command"]


def _substituted(value: str) -> str:
    """What compose passes once the operator has exported the secrets it asks for."""
    return re.sub(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", "s3cr3t" * 8, value)


def settings_of(name: str) -> Settings:
    """The settings a service's process starts with, once the operator exported the secrets."""
    environment = compose()["services"][name]["environment"]
    values = {
        key.removeprefix("ORDERS_").lower(): _substituted(str(value))
        for key, value in environment.items()
        if key != "ORDERS_OIDC_ISSUER"  # empty unless the operator sets one
    }
    values["key_encryption_key"] = base64.b64encode(b"k" * 32).decode()  # openssl's shape
    return Settings(**values)


def test_every_orders_variable_it_sets_is_a_known_setting() -> None:
    known = {f"ORDERS_{name.upper()}" for name in Settings.model_fields}
    for name in PRODUCTION_COMMANDS:
        environment = compose()["services"][name]["environment"]
        assert environment
        unknown = {key for key in environment if key.startswith("ORDERS_")} - known
        assert not unknown, f"{name} sets unknown settings {unknown}"
        settings_of(name)


def test_prometheus_scrapes_each_process_by_a_host_it_serves() -> None:
    # A Host a process does not serve is 421 (DNS rebinding): Prometheus asks for
    # `commands:8000`, so each service must serve its own name.
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in scrape["scrape_configs"]
        if job["job_name"].startswith("orders-")
        for config in job["static_configs"]
        for target in config["targets"]
    ]
    assert len(targets) == len(PRODUCTION_COMMANDS)
    for target in targets:
        name, port = target.split(":")
        settings = settings_of(name)
        assert settings.port == int(port), target
        assert host_name(target) in served_hosts(settings), f"{name} answers 421 to {target}"


def test_the_image_and_make_install_from_lock_files_with_hashes() -> None:
    image = (ROOT / "Dockerfile").read_text()
    make = (ROOT / "Makefile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in image
    assert "pip install --no-cache-dir --no-deps ." in image
    assert "--require-hashes -r $(1)" in make
    assert "$(call install,requirements-dev.lock)" in make
    assert "$(call install,requirements.lock)" in make
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        pinned = set(re.findall(r"^([a-z0-9._-]+)==", text, re.MULTILINE))
        assert {"fastapi", "elasticsearch", "orjson"} <= pinned, lock
        assert "--hash=sha256:" in text
    developed = (ROOT / "requirements-dev.lock").read_text()
    assert {"pytest", "ruff", "mypy"} <= set(re.findall(r"^([a-z0-9._-]+)==", developed, re.M))
