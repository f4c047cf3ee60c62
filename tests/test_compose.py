"""Docker is not available here, so the compose file is checked for what it promises."""

from __future__ import annotations

from typing import Any

import yaml

from order_service.settings import Settings
from tests.engines import ROOT

PRODUCTION_COMMANDS = {
    "commands": ["orders", "serve", "commands"],
    "search": ["orders", "serve", "search"],
    "projector": ["orders", "project", "order-search"],
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


def test_every_service_has_a_health_check_and_a_published_port() -> None:
    for name, service in compose()["services"].items():
        assert service["healthcheck"]["test"], name
        assert service["ports"], name
    assert "2113:2113" in compose()["services"]["eventstoredb"]["ports"]
    assert "9200:9200" in compose()["services"]["elasticsearch"]["ports"]


def test_the_engines_are_insecure_single_nodes_for_development() -> None:
    services = compose()["services"]

    assert services["eventstoredb"]["environment"]["EVENTSTORE_INSECURE"] == "true"
    assert services["elasticsearch"]["environment"]["discovery.type"] == "single-node"
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"


def test_every_orders_variable_it_sets_is_a_known_setting() -> None:
    known = {f"ORDERS_{name.upper()}" for name in Settings.model_fields}
    for name in PRODUCTION_COMMANDS:
        environment = compose()["services"][name]["environment"]
        assert environment
        unknown = {key for key in environment if key.startswith("ORDERS_")} - known
        assert not unknown, f"{name} sets unknown settings {unknown}"
        Settings(**{key.removeprefix("ORDERS_").lower(): v for key, v in environment.items()})
