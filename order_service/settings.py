"""The one configuration model: environment variables with the ``ORDERS_`` prefix (or ``.env``).

Every field is validated when a process starts, so a bad value stops it with a message that
names the variable. An engine that is merely unreachable is not a configuration error: it is
reported by ``/readyz`` and retried, never a crash loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from order_service.eventstore.connection import redacted
from order_service.personal.cipher import KeyEncryptionKey
from order_service.tracing import check_environment, sdk_disabled

EVENT_STORE_SCHEMES = ("sqlite", "esdb", "esdb+discover", "kurrentdb", "kurrentdb+discover")
READ_MODEL_SCHEMES = ("sqlite", "http", "https")
PLACEHOLDERS = ("changeme", "change-me", "todo", "xxx", "<", ">")


class Settings(BaseSettings):
    """Settings shared by every process; each reads only what it needs."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERS_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(Path("var"), description="Where embedded mode keeps its files.")
    event_store: str = Field(
        repr=False,
        default="",
        description="sqlite:///path/events.db, esdb://host:2113?Tls=false or kurrentdb://...; "
        "empty means sqlite in data_dir.",
    )
    read_model: str = Field(
        "",
        description="sqlite:///path/read.db or http://host:9200 (Elasticsearch); "
        "empty means sqlite in data_dir.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server binds.")
    allowed_hosts: str = Field(
        "",
        description="Comma-separated host names (no port) the deployment serves; a request "
        "whose Host is another is refused (DNS rebinding). Loopback names, the bound address "
        "and the address a connection arrived on are always served.",
    )
    workers: int = Field(
        1, ge=1, le=64, description="Processes of `orders serve commands|search` sharing the port."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="debug, info, warning or error; info logs one line per request."
    )
    snapshot_every: int = Field(
        50, ge=1, description="Snapshot an order every N events (into orderSnapshot-<id>)."
    )
    order_cache_size: int = Field(
        10_000,
        ge=0,
        le=10_000_000,
        description="Orders each command process keeps in memory (0: none); never trusted "
        "without the store's version check.",
    )
    command_retries: int = Field(
        3,
        ge=0,
        le=20,
        description="Retries of a command without If-Match after a concurrent write.",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted request body; larger is 413."
    )
    max_body_fields: int = Field(
        5_000,
        ge=100,
        le=1_000_000,
        description="Most colons (an upper bound on fields) a JSON body may hold; more is 413, "
        "refused before the body is parsed.",
    )
    max_header_bytes: int = Field(
        32_768,
        ge=1024,
        le=1_048_576,
        description="Largest request line plus headers; larger is 431 and the connection closes.",
    )
    max_headers: int = Field(100, ge=10, le=1000, description="Most header fields in a request.")
    header_timeout_ms: int = Field(
        10_000,
        ge=100,
        le=300_000,
        description="A connection whose request headers have not all arrived by then is closed.",
    )
    keep_alive_ms: int = Field(
        5_000, ge=1_000, le=300_000, description="Idle keep-alive connections are closed after it."
    )
    max_connections: int = Field(
        4_096, ge=16, le=1_000_000, description="Open connections per process; more are closed."
    )
    max_concurrent_requests: int = Field(
        1_024, ge=1, le=1_000_000, description="Requests in progress per process; more get 503."
    )
    request_timeout_ms: int = Field(
        10_000,
        ge=100,
        le=600_000,
        description="Server-side deadline of every request; past it the answer is 503.",
    )
    oidc_issuer: str = Field(
        "",
        description="OpenID Connect issuer whose access tokens are accepted (empty: none).",
    )
    oidc_audience: str = Field(
        "orders", description="The audience (aud) an access token must be issued for."
    )
    oidc_roles_claim: str = Field(
        "roles",
        pattern=r"^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$",
        description="Claim holding the caller's roles; dots walk into objects "
        "(Keycloak: realm_access.roles).",
    )
    oidc_jwks_url: str = Field(
        "", description="Where the issuer's signing keys are (empty: from its discovery document)."
    )
    public_url: str = Field(
        "",
        description="The console's address as agents' browsers reach it (https://orders.example"
        ".com); the OpenID Connect redirect URI is built from it. Empty: from the request's "
        "Host, which must be one the deployment serves (ORDERS_ALLOWED_HOSTS).",
    )
    oidc_console_client_id: str = Field(
        "",
        description="Public client the console signs agents in with (authorization code + "
        "PKCE); empty: agents sign in with a personal API key.",
    )
    session_secret: str = Field(
        repr=False,
        default="",
        description="Signs console session cookies; at least 32 characters, the same for "
        "every search process (empty: a secret kept in the data directory).",
    )
    session_hours: float = Field(
        8, gt=0, le=24 * 30, description="How long a console sign-in lasts."
    )
    console_delay_warning_ms: int = Field(
        5000,
        ge=0,
        le=3_600_000,
        description="Projection lag past which the console says search may be delayed.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object a line; text: for people; auto: text on a "
        "terminal, json otherwise.",
    )
    tracing: bool = Field(
        False,
        description="Export OpenTelemetry traces (a command, its append, the projection of "
        "its events, searches) where the standard OTEL_* variables say; see Traces in the "
        "operations runbook.",
    )
    sqlite_poll_ms: int = Field(
        200,
        ge=10,
        le=10_000,
        description="How often SQLite subscribers look for other processes' appends.",
    )
    projection_batch_size: int = Field(
        20_000, ge=1, le=50_000, description="Events the projector writes in one bulk at most."
    )
    projection_flush_ms: int = Field(
        50, ge=1, le=10_000, description="How long the projector gathers events before a flush."
    )
    projection_lease_ttl_ms: int = Field(
        5000,
        ge=500,
        le=600_000,
        description="`orders project`: how long a standby waits on a lease that is not "
        "renewed before it takes over the projection.",
    )
    projection_lease_renew_ms: int = Field(
        1000,
        ge=100,
        le=300_000,
        description="`orders project`: how often the active projector renews its lease (at "
        "most half the TTL); it stops writing a renewal short of the TTL.",
    )
    rebuild_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes the automatic builds (a schema upgrade, a first build "
        "over an archived log) split the log's streams over; 1: the projector alone. "
        "`orders projection rebuild --workers N` says it per run.",
    )
    es_refresh_ms: int = Field(
        100, ge=0, le=60_000, description="Elasticsearch refresh interval of the search index."
    )
    es_replicas: int = Field(
        1, ge=0, le=10, description="Replicas of the search index (0 on a single-node cluster)."
    )
    archive_dir: Path | None = Field(
        None,
        description="Cold storage of archived events (files, manifest, index); "
        "empty means data_dir/archive.",
    )
    encrypt_personal_data: bool = Field(
        True,
        description="Seal customers' names, e-mails, addresses and notes with a key per "
        "customer, so that deleting the key erases them everywhere (crypto-shredding).",
    )
    key_encryption_key: str = Field(
        repr=False,
        default="",
        description="Base64 of 32 random bytes (`openssl rand -base64 32`) wrapping the "
        "customers' keys; the same for every process (empty: a key kept in the data directory).",
    )
    previous_key_encryption_keys: str = Field(
        repr=False,
        default="",
        description="Comma-separated older key-encryption keys, still accepted for reading "
        "while `orders customer rewrap` moves every key to the current one.",
    )
    key_cache_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How long a process trusts a customer's key it has read; an erasure "
        "reaches every process within it.",
    )
    es_username: str = Field("", description="Elasticsearch user (basic authentication).")
    es_password: str = Field(repr=False, default="", description="Elasticsearch user's password.")
    es_api_key: str = Field(
        repr=False, default="", description="Elasticsearch API key (instead of a user)."
    )
    es_ca_file: str = Field("", description="CA certificate that signed Elasticsearch's.")
    es_index_prefix: str = Field(
        "orders", pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="Prefix of Elasticsearch indices."
    )

    @field_validator("session_secret")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -base64 48`)")
        return value

    @field_validator("key_encryption_key", "previous_key_encryption_keys")
    @classmethod
    def _wrapping_keys(cls, value: str) -> str:
        for text in filter(None, value.split(",")):
            KeyEncryptionKey.from_text(text)  # ValueError says what is wrong, never the key
        return value

    @field_validator("event_store", "read_model")
    @classmethod
    def _no_placeholder(cls, value: str) -> str:
        if any(marker in value.lower() for marker in PLACEHOLDERS):
            raise ValueError(f"looks like a placeholder: {redacted(value)!r}")
        return value.strip()

    @model_validator(mode="after")
    def _known_schemes(self) -> Settings:
        for name, url in (
            ("ORDERS_PUBLIC_URL", self.public_url),
            ("ORDERS_OIDC_ISSUER", self.oidc_issuer),
            ("ORDERS_OIDC_JWKS_URL", self.oidc_jwks_url),
        ):
            if url and urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{name} must be an http(s) URL: got {url!r}")
        if self.projection_lease_renew_ms * 2 > self.projection_lease_ttl_ms:
            raise ValueError(
                "ORDERS_PROJECTION_LEASE_RENEW_MS must be at most half of "
                f"ORDERS_PROJECTION_LEASE_TTL_MS ({self.projection_lease_ttl_ms})"
            )
        if self.event_store and urlsplit(self.event_store).scheme not in EVENT_STORE_SCHEMES:
            raise ValueError(
                f"ORDERS_EVENT_STORE must start with one of {', '.join(EVENT_STORE_SCHEMES)}: "
                f"got {redacted(self.event_store)!r}"
            )
        if self.read_model and urlsplit(self.read_model).scheme not in READ_MODEL_SCHEMES:
            raise ValueError(
                f"ORDERS_READ_MODEL must start with one of {', '.join(READ_MODEL_SCHEMES)}: "
                f"got {redacted(self.read_model)!r}"
            )
        return self

    @model_validator(mode="after")
    def _traces_exportable(self) -> Settings:
        """The OTEL_* variables are the SDK's, but a wrong one stops the process here too."""
        if self.tracing and not sdk_disabled():
            check_environment()
        return self

    @property
    def event_store_url(self) -> str:
        return self.event_store or f"sqlite:///{self.data_dir / 'events.db'}"

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    @property
    def read_model_url(self) -> str:
        return self.read_model or f"sqlite:///{self.data_dir / 'read.db'}"


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    return Path(url.removeprefix("sqlite:///"))


def explain(error: ValidationError) -> str:
    """A start-up message naming each bad variable, for people rather than for logs."""
    lines = ["invalid configuration:"]
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        variable = f"ORDERS_{field.upper()}" if field else "ORDERS_*"
        lines.append(f"  {variable}: {problem['msg']}")
    return "\n".join(lines)
