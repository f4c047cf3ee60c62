"""Access control for every route of every process, in one place (installed by the app factory).

Each request is authenticated (``Authorization: Bearer``: an API key or an OpenID Connect
token), then authorised against ``order_service.access.policy``. ``401`` when no valid
credential came (with ``WWW-Authenticate: Bearer``), ``403`` naming the roles needed when the
credential lacks them; both are decided before the route runs, so neither can tell whether an
order exists. The principal is left in the scope for the routes (it becomes each event's actor)
and for the access log.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from order_service.access.authenticate import (
    AccessUnavailableError,
    Authenticator,
    CsrfTokenError,
    UnauthenticatedError,
)
from order_service.access.policy import OPEN, roles_for, template_of
from order_service.access.principals import Principal
from order_service.http.limits import problem_bytes, send_problem


class Access:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        template = template_of(method, scope["path"])
        if (method, template) not in OPEN:
            try:
                headers = dict(scope["headers"])
                principal = await self.authenticator.authenticate(headers, method)
            except UnauthenticatedError as refused:
                await _unauthenticated(send, refused)
                return
            except CsrfTokenError as error:
                body = problem_bytes(
                    403, "csrf-token-missing", "CSRF token missing or wrong", str(error)
                )
                await send_problem(send, 403, body, [])
                return
            except AccessUnavailableError as error:
                body = problem_bytes(
                    503, "access-unavailable", "Access cannot be checked now", str(error)
                )
                await send_problem(send, 503, body, [(b"retry-after", b"1")])
                return
            needed = roles_for(method, template)
            if needed is not None and not principal.roles.intersection(needed):
                await _forbidden(send, principal, needed)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def principal_of(scope: Scope) -> Principal:
    principal: Principal = scope["state"]["principal"]
    return principal


async def _unauthenticated(send: Send, refused: UnauthenticatedError) -> None:
    challenge = b'Bearer error="invalid_token"' if refused.presented else b"Bearer"
    body = problem_bytes(401, "unauthenticated", "Authentication required", str(refused))
    await send_problem(send, 401, body, [(b"www-authenticate", challenge)])


async def _forbidden(send: Send, principal: Principal, needed: Sequence[str]) -> None:
    body = problem_bytes(
        403,
        "forbidden",
        "Your credential lacks the role this needs",
        f"needs one of the roles {', '.join(needed)}; "
        f"this credential has {', '.join(sorted(principal.roles)) or 'none'}",
        required_roles=list(needed),
    )
    await send_problem(send, 403, body, [])
