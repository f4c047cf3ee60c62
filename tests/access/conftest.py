"""A real `orders up` with one API key per role, created by the real CLI beforehand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from order_service.access.principals import ROLES
from tests.servers import Server, orders_cli, orders_process


def create_key(workdir: Path, name: str, *roles: str, order_id_prefix: str = "") -> dict[str, str]:
    """`orders keys create --json` in ``workdir``: {id, name, roles, key}."""
    flags = [flag for role in roles for flag in ("--role", role)]
    if order_id_prefix:
        flags += ["--order-id-prefix", order_id_prefix]
    created = orders_cli(
        workdir, "keys", "create", "--name", name, *flags, "--json", "--yes", check=True
    )
    key: dict[str, str] = json.loads(created.stdout)
    return key


def bearer(key: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


@dataclass
class Secured:
    server: Server
    workdir: Path
    keys: dict[str, dict[str, str]]
    """One key per role, by role name."""

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("secured")
    keys = {role: create_key(workdir, f"{role}-key", role) for role in ROLES}
    with orders_process(["up"], workdir) as server:
        yield Secured(server, workdir, keys)
