"""How the suite obtains its engines, and what it does when one is missing.

Locally a missing engine skips its tests with a reason saying how to get it; under CI=true the
same condition fails the run, so CI can never pass by skipping.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def engine_missing(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI=true and an engine is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def _load_script(name: str) -> ModuleType:
    if str(ROOT / "scripts") not in sys.path:
        sys.path.append(str(ROOT / "scripts"))  # the launchers share scripts/engine_process.py
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"orders_scripts_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def share_with_workers(config: pytest.Config) -> None:
    """With ``-n N`` (pytest-xdist), start Elasticsearch once, in the controlling process,
    before the workers start: they inherit ELASTICSEARCH_URL and isolate themselves by index
    prefix as they do on any shared node. The controller has no gRPC threads, so the node is
    forked from a quiet process. A node that cannot start here is left to the workers, which
    skip or fail by the usual rule."""
    workers = getattr(config.option, "numprocesses", None)
    if not workers or hasattr(config, "workerinput"):
        return
    shared = Path(tempfile.mkdtemp(prefix="orders-test-engines-"))
    os.environ[SHARED_DIR] = str(shared)
    config.stash[_SHARED] = shared
    if os.environ.get("ELASTICSEARCH_URL"):
        return
    script = _load_script("elasticsearch_node")
    try:
        node = script.Node(script.fetch())
        os.environ["ELASTICSEARCH_URL"] = node.start()
    except script.EngineUnavailableError:
        return
    config.stash[_SHARED_NODE] = node


def stop_shared(config: pytest.Config) -> None:
    node = config.stash.get(_SHARED_NODE, None)
    if node is not None:
        node.stop()
        os.environ.pop("ELASTICSEARCH_URL", None)
    shared = config.stash.get(_SHARED, None)
    if shared is None:
        return
    keycloak = shared / "keycloak.json"
    if keycloak.exists() and "pgid" in (state := json.loads(keycloak.read_text())):
        _load_script("engine_process").kill_group(int(state["pgid"]), grace_s=10.0)
        shutil.rmtree(state["workdir"], ignore_errors=True)
    shutil.rmtree(shared, ignore_errors=True)
    os.environ.pop(SHARED_DIR, None)


SHARED_DIR = "ORDERS_TEST_SHARED_ENGINES"
"""Where workers record the engines they start for each other (set by the controller)."""
_SHARED_NODE = pytest.StashKey[Any]()
_SHARED = pytest.StashKey[Path]()


def elasticsearch_url() -> Iterator[str]:
    """A running node: ELASTICSEARCH_URL if set, else one fetched and started for this session."""
    given = os.environ.get("ELASTICSEARCH_URL")
    if given:
        yield given.rstrip("/")
        return
    script = _load_script("elasticsearch_node")
    try:
        node = script.Node(script.fetch())
        url: str = node.start()
    except script.EngineUnavailableError as error:
        engine_missing(
            f"Elasticsearch is unavailable ({error}). `make test` fetches it with Maven and runs "
            "it on Java 17+; or start one and set ELASTICSEARCH_URL=http://127.0.0.1:9200"
        )
    try:
        yield url
    finally:
        node.stop()


def keycloak_url() -> Iterator[str]:
    """A real Keycloak with the suite's realm (tests/identity/orders.json), started once: by
    this process, or, among workers, by the first worker that needs it, for all of them."""
    given = os.environ.get("KEYCLOAK_URL")
    if given:
        yield given.rstrip("/")
        return
    shared = os.environ.get(SHARED_DIR)
    if shared:
        yield _shared_keycloak(Path(shared))
        return
    node = _start_keycloak(detached=False)
    try:
        yield node.url
    finally:
        node.stop()


def _start_keycloak(*, detached: bool) -> Any:
    script = _load_script("keycloak_node")
    try:
        node = script.Keycloak(ROOT / "tests" / "identity" / "orders.json", detached=detached)
        node.start()
    except script.EngineUnavailableError as error:
        engine_missing(
            f"Keycloak is unavailable ({error}). `make test` fetches it with Maven and runs it "
            "on Java 21+; or start one with the realm tests/identity/orders.json and set "
            "KEYCLOAK_URL"
        )
    return node


def _shared_keycloak(shared: Path) -> str:
    """The workers' one Keycloak: the first to ask starts it detached and records it; the
    controlling process stops it when the session ends (``stop_shared``)."""
    state = shared / "keycloak.json"
    with (shared / "keycloak.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while it starts
        if not state.exists():
            try:
                node = _start_keycloak(detached=True)
            except BaseException as error:
                state.write_text(json.dumps({"error": str(error)}))
                raise
            assert node.process is not None
            recorded = {"url": node.url, "pgid": node.process.pid, "workdir": str(node.workdir)}
            state.write_text(json.dumps(recorded))
    found = json.loads(state.read_text())
    if "error" in found:
        engine_missing(f"Keycloak is unavailable ({found['error']})")
    return str(found["url"])


def chromium_path() -> str:
    """Debian's Chromium (installed from the project's script when missing), for Playwright."""
    script = _load_script("chromium_browser")
    try:
        path: str = script.ensure()
    except script.EngineUnavailableError as error:
        engine_missing(f"no browser for the console tests: {error}")
    return path


# The suite's server writes the node's periodic $statsCollected records far more often than a
# real node's 30 s, so every test meets system events between its own.
STATS_PERIOD_S = 0.25


def eventstoredb_uri() -> Iterator[str]:
    """A real server at EVENTSTOREDB_URI if set, else the suite's EventStoreDB-compatible server."""
    given = os.environ.get("EVENTSTOREDB_URI")
    if given:
        yield given
        return
    try:
        from tests.esdb_server.log import Log
        from tests.esdb_server.server import start
    except ImportError as error:  # grpcio comes with kurrentdbclient; this is a broken install
        engine_missing(f"the EventStoreDB test server cannot start ({error}); run `make test`")
    server = start(log=Log(stats_period_s=STATS_PERIOD_S))
    try:
        yield server.uri
    finally:
        server.stop()
