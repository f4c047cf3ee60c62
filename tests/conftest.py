from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest

from tests import engines
from tests.factories import TEST_KEY_ENCRYPTION_TEXT


def pytest_configure(config: pytest.Config) -> None:
    # Every process a test starts, and every container it builds, wraps customers' keys
    # with the same key-encryption key as ``tests.factories.personal_data`` (production
    # processes share one the same way). The data-directory default has its own test.
    os.environ.setdefault("ORDERS_KEY_ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_TEXT)
    engines.share_with_workers(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    engines.stop_shared(config)


ENGINES = ("elasticsearch", "eventstoredb", "keycloak", "browser")
_outcomes: defaultdict[str, Counter[str]] = defaultdict(Counter)


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    yield from engines.elasticsearch_url()


@pytest.fixture(scope="session")
def eventstoredb_uri() -> Iterator[str]:
    yield from engines.eventstoredb_uri()


@pytest.fixture(scope="session")
def keycloak_url() -> Iterator[str]:
    yield from engines.keycloak_url()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return engines.chromium_path()


ENGINE_FIXTURES = {
    "elasticsearch_url": "elasticsearch",
    "eventstoredb_uri": "eventstoredb",
    "keycloak_url": "keycloak",
    "chromium_path": "browser",
}


def pytest_itemcollected(item: pytest.Item) -> None:
    for fixture, marker in ENGINE_FIXTURES.items():
        if fixture in getattr(item, "fixturenames", ()):
            item.add_marker(getattr(pytest.mark, marker))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        engine = next((name for name in ENGINES if name in report.keywords), "none")
        _outcomes[engine][report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.section("tests per engine")
    for engine in (*ENGINES, "none"):
        counts = _outcomes.get(engine, Counter())
        label = "no engine (SQLite, HTTP)" if engine == "none" else engine
        terminalreporter.write_line(
            f"engine {label}: ran {counts['passed'] + counts['failed']} "
            f"(passed {counts['passed']}, failed {counts['failed']}, skipped {counts['skipped']})"
        )
