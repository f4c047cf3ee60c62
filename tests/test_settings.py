from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from order_service.cli import main
from order_service.settings import Settings, explain


def test_embedded_mode_needs_no_configuration(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert settings.event_store_url == f"sqlite:///{tmp_path / 'events.db'}"
    assert settings.read_model_url == f"sqlite:///{tmp_path / 'read.db'}"


def test_settings_come_from_orders_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_EVENT_STORE", "esdb://localhost:2113?Tls=false")
    monkeypatch.setenv("ORDERS_READ_MODEL", "http://localhost:9200")
    monkeypatch.setenv("ORDERS_PORT", "9001")

    settings = Settings()

    assert settings.event_store_url == "esdb://localhost:2113?Tls=false"
    assert settings.read_model_url == "http://localhost:9200"
    assert settings.port == 9001


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("ORDERS_EVENT_STORE", "postgres://db/events", "ORDERS_EVENT_STORE must start with"),
        ("ORDERS_READ_MODEL", "ftp://search", "ORDERS_READ_MODEL must start with"),
        ("ORDERS_EVENT_STORE", "esdb://CHANGEME:2113", "placeholder"),
        ("ORDERS_PORT", "0", "ORDERS_PORT"),
        ("ORDERS_SNAPSHOT_EVERY", "-3", "ORDERS_SNAPSHOT_EVERY"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as refused:
        Settings()

    assert complaint in explain(refused.value)


def test_orders_refuses_to_start_with_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDERS_EVENT_STORE", "mysql://nope")

    status = main(["serve", "commands"])

    assert status == 2
    assert "ORDERS_EVENT_STORE must start with" in capsys.readouterr().err


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = Settings(
        es_password="hunter2-es",
        es_api_key="es-api-key-77",
        session_secret="s" * 40,
        event_store="esdb://admin:pw-123@eventstoredb:2113?tls=true",
    )

    shown = repr(settings)

    for secret in ("hunter2-es", "es-api-key-77", "s" * 40, "pw-123"):
        assert secret not in shown
