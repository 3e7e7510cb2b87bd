"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "budskab-dev-only-secret-do-not-use-in-production"
KEEP_ALIVE_SECONDS = 75  # uvicorn's own 5 s races every client that keeps connections 5 s or more
_PLACEHOLDERS = {"changeme", "secret"}  # and whatever starts "change-me" (the examples')


def _is_placeholder(secret: SecretStr) -> bool:
    value = secret.get_secret_value()
    lowered = value.lower()
    return lowered in _PLACEHOLDERS or lowered.startswith("change-me") or len(value.encode()) < 32


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    database_url: str
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    http_host: str = "127.0.0.1"
    http_port: int = Field(ge=1, le=65535)
    http_trusted_proxies: str = Field(
        "127.0.0.1",
        description="Addresses or networks (comma-separated) of the reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; '*' believes every peer.",
    )
    http_keep_alive_seconds: int = Field(
        KEEP_ALIVE_SECONDS,
        ge=1,
        le=3600,
        description="How long an idle HTTP connection stays open. Longer than any client's or "
        "proxy's own (nginx keeps its upstream connections 60 s): a client that reuses a "
        "connection the service is closing gets a reset (a proxy answers 502).",
    )
    consumer_group: str

    dev_mode: bool = Field(False, description="Accept the built-in dev JWT secret.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 key (at least 32 bytes).")
    jwt_public_key: str | None = Field(None, description="PEM key for RS256/ES256 tokens.")
    jwt_jwks_url: str | None = Field(None, description="The identity provider's JWKS URL.")
    jwt_issuer: str | None = Field(None, description="Checked in every token when set.")
    jwt_audience: str | None = Field(None, description="Checked in every token when set.")
    jwt_max_lifetime_seconds: int = Field(
        12 * 3600, gt=0, description="Tokens valid for longer than this from now are refused."
    )

    link_secret: SecretStr | None = Field(
        None,
        description="Key that signs people's personal links in e-mails (at least 32 bytes); "
        "without it, the HS256 token key signs them, under a salt of their own.",
    )

    metrics_token: SecretStr | None = Field(
        None,
        description="When set, /metrics answers only `Authorization: Bearer <this>` (Prometheus' "
        "`authorization.credentials_file`): its counts move with each registration and send, "
        "which anyone could otherwise watch beside their own requests.",
    )

    log_level: str = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True
    max_body_bytes: int = Field(1_000_000, gt=0)
    max_file_bytes: int = Field(
        20_000_000, gt=0, description="Larger files (a CSV of contacts, an e-mail) get 413."
    )
    outbox_batch_size: int = Field(3000, gt=0, description="Rows the relay publishes at once.")
    outbox_poll_interval_seconds: float = Field(
        0.1, gt=0, description="How often the relay looks for rows other processes wrote."
    )
    consumer_batch_size: int = Field(2000, gt=0, description="Messages handled in one transaction.")
    consumer_batch_wait_ms: int = Field(
        10,
        gt=0,
        description="How long an idle consumer waits for messages (and then pauses as "
        "long again): the bound on the latency it adds.",
    )
    consumer_fetch_max_wait_ms: int = Field(
        50,
        gt=0,
        description="How long the broker may hold a fetch when it has no messages; "
        "a broker that does not answer a waiting fetch as messages arrive (Tansu) adds up to this.",
    )
    consumer_max_attempts: int = Field(3, ge=1)
    consumer_session_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="How long the group waits for a silent consumer before it hands that "
        "consumer's partitions to another (heartbeats every third of it). A new consumer "
        "also waits up to half of it to join its group on Tansu.",
    )
    topic_partitions: int = Field(3, ge=1)
    topic_replication_factor: int = Field(1, ge=1, description="3 on a production cluster.")

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        """As Prometheus reads its credentials file: a Secret made from a file ends in a newline."""
        return value.strip() if isinstance(value, str) else value

    @field_validator("http_trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        # uvicorn would take a mistyped entry as a name no peer ever has, and say nothing
        if value.strip() == "*":
            return "*"
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _check_auth(self) -> ServiceSettings:
        if self.jwt_secret is None and not (self.jwt_public_key or self.jwt_jwks_url):
            if not self.dev_mode:
                raise ValueError(
                    "no token key configured: set JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL "
                    "(or DEV_MODE=true for the built-in development key)"
                )
            self.jwt_secret = SecretStr(DEV_JWT_SECRET)
        if self.jwt_secret is not None:
            secret = self.jwt_secret.get_secret_value()
            if _is_placeholder(self.jwt_secret):
                raise ValueError("JWT_SECRET is a placeholder or shorter than 32 bytes")
            if secret == DEV_JWT_SECRET and not self.dev_mode:
                raise ValueError("the built-in dev JWT secret is accepted only with DEV_MODE=true")
        if self.link_secret is not None and len(self.link_secret.get_secret_value().encode()) < 32:
            raise ValueError("LINK_SECRET is shorter than 32 bytes")
        if self.metrics_token is not None and _is_placeholder(self.metrics_token):
            raise ValueError("METRICS_TOKEN is a placeholder or shorter than 32 bytes")
        return self

    @property
    def link_key(self) -> str:
        """What signs personal links: LINK_SECRET, or else the HS256 token key."""
        secret = self.link_secret or self.jwt_secret
        if secret is None:
            raise ValueError("set LINK_SECRET: there is no HS256 key to sign links with")
        return secret.get_secret_value()
