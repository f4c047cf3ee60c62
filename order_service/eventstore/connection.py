"""Connection strings with their secrets taken out, for anything a person or a monitor reads.

An EventStoreDB connection string carries the user's password in its authority
(``esdb://admin:secret@host:2113?tls=true``, also with several hosts or ``+discover``); a
URL to another engine may carry one the same way. Whatever quotes a connection string (an
error, a log line, a health answer, a metric label) quotes ``redacted(url)``, and an error
raised by a driver that was given the string is passed on through ``scrubbed``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

HIDDEN = "***"
_AUTHORITY = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/?#@]*)@")


def redacted(url: str) -> str:
    """The connection string with any password replaced by ``***`` (the user stays)."""
    found = _AUTHORITY.match(url)
    if found is None:
        return url
    user = found["user"].split(":", 1)[0]
    return f"{found['head']}{user}:{HIDDEN}@{url[found.end() :]}"


def password_of(url: str) -> str | None:
    found = _AUTHORITY.match(url)
    if found is None or ":" not in found["user"]:
        return None
    return found["user"].split(":", 1)[1] or None


def scrubbed(text: str, url: str) -> str:
    """Text that may quote the connection string (or its password), with the password hidden."""
    text = text.replace(url, redacted(url))
    password = password_of(url)
    if password:
        for form in {password, unquote(password)}:
            text = text.replace(form, HIDDEN)
    return text
