"""The security page's route table is the access policy's: a route or role added to one and
not the other fails here (the page once listed five checkout commands of twelve)."""

from __future__ import annotations

import re

from order_service.access.policy import POLICY
from tests.engines import ROOT

ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| ((?:`[a-z]+`(?:, )?)+) \|$")


def documented_policy() -> dict[tuple[str, str], set[str]]:
    page = (ROOT / "docs" / "security.md").read_text()
    rows: dict[tuple[str, str], set[str]] = {}
    for line in page.splitlines():
        row = ROW.match(line)
        if row:
            method, template, roles = row.groups()
            assert (method, template) not in rows, f"listed twice: {method} {template}"
            rows[method, template] = set(re.findall(r"`([a-z]+)`", roles))
    return rows


def test_the_route_table_lists_every_route_with_the_roles_the_policy_gives_it() -> None:
    documented = documented_policy()
    policy = {route: set(roles) for route, roles in POLICY.items()}

    assert sorted(policy.keys() - documented.keys()) == [], "routes the page leaves out"
    assert sorted(documented.keys() - policy.keys()) == [], "routes the policy does not have"
    assert {route: roles for route, roles in documented.items() if roles != policy[route]} == {}
