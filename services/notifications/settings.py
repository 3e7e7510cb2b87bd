from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.notifications.domain import QuietHours
from shared.settings import ServiceSettings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/notifications.db"
    http_port: int = 8003
    consumer_group: str = "notifications"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    smtp_use_tls: bool = False  # TLS from the first byte (port 465)
    smtp_start_tls: bool | None = None  # None: upgrade if the server offers it
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_pool_size: int = Field(4, ge=1, le=100)  # connections kept open, messages in flight
    # the mail server's (or relay's) limit: messages a second at most; none: as the pool goes
    smtp_rate_per_second: float | None = Field(None, gt=0)
    # e.g. "21:00-08:00", Danish time: sends wait them out; a person's own messages do not
    send_quiet_hours: QuietHours | None = None
    mail_transport: Literal["smtp", "null"] = "smtp"  # null: send nothing (benchmarks)
    mail_from: str = "Budskab <budskab@localhost>"
    # SMS through a gateway with GatewayAPI's REST call (POST <url>/rest/mtsms); none: an
    # SMS send waits, retried, until one is configured
    sms_gateway_url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    sms_gateway_token: SecretStr | None = None
    sms_sender: str = Field("Budskab", pattern=r"^[A-Za-z0-9 ]{1,11}$")  # what phones show
    sms_timeout_seconds: float = Field(10.0, gt=0)
    sms_rate_per_second: float | None = Field(None, gt=0)  # the gateway's limit, if any
    # replies forwarded by the gateway (GatewayAPI's MO webhook) come signed with this secret
    # (a JWT, HS256, in X-Gwapi-Signature); none: replies are refused
    sms_reply_secret: SecretStr | None = None
    # the password a mail provider's bounce webhook gives (HTTP Basic): unset, only
    # communicators' tokens are taken at /v1/bounces
    bounce_webhook_secret: SecretStr | None = None
    # no text message wakes anybody: Danish time, as send_quiet_hours
    sms_quiet_hours: QuietHours | None = QuietHours.parse("21:00-08:00")
    # webhooks: subscribing systems are posted a send's message; https to a public address
    # only, unless local ones are allowed (make run, tests: a receiver on this machine)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_rate_per_second: float | None = Field(None, gt=0)
    webhook_allow_local: bool = False
    # a throttled or unreachable server is retried this often (hourly at most), some three
    # days with the default, before the delivery is failed
    send_max_attempts: int = Field(80, ge=1)
    send_retry_base_seconds: float = Field(2.0, gt=0)
    send_batch_size: int = Field(1000, gt=0)  # claimed at once; recorded as they finish
    # batches in hand at once: while one waits for the database, another is being built —
    # faster when the mail path is (a fast relay), but a crash may then re-send more: each
    # batch's outcomes wait their turn at the database while its sending goes on
    send_concurrency: int = Field(1, ge=1, le=16)
    send_poll_interval_seconds: float = Field(0.5, gt=0)
    # a sender holds what it claimed this long, renewing while it works: a crashed sender's
    # deliveries are taken up by another (or by itself, restarted) within this time
    send_lease_seconds: float = Field(10.0, ge=1)
    fanout_page_size: int = Field(1000, gt=0)  # deliveries written per transaction
    public_url: str = Field(
        "http://127.0.0.1:8003",
        description="Where people reach this service's pages: the base of unsubscribe links.",
    )
    survey_url: str = Field(
        "http://127.0.0.1:8004",
        description="Where people reach the metrics service's pages: the base of survey links.",
    )

    @model_validator(mode="after")
    def _sms_gateway(self) -> NotificationsSettings:
        """A gateway gets its token over TLS (plain http only to this machine), and one
        without a token would refuse every text for days before anyone noticed."""
        url = self.sms_gateway_url
        if url is None:
            return self
        if self.sms_gateway_token is None:
            raise ValueError(
                "NOTIFICATIONS_SMS_GATEWAY_URL is set without NOTIFICATIONS_SMS_GATEWAY_TOKEN"
            )
        if urlsplit(url).scheme != "https" and urlsplit(url).hostname not in LOOPBACK:
            raise ValueError("the SMS gateway's URL must be https (http only to 127.0.0.1)")
        return self

    @field_validator("sms_reply_secret", "bounce_webhook_secret")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # one captured reply would let a short secret be guessed offline; a webhook's
        # password is tried online, but a short one is still a guess away
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError(
                f"NOTIFICATIONS_{str(info.field_name).upper()} must be at least 32 bytes"
            )
        return value

    @field_validator(
        "sms_gateway_url",
        "sms_gateway_token",
        "sms_reply_secret",
        "bounce_webhook_secret",
        mode="before",
    )
    @classmethod
    def _unset(cls, value: object) -> object:
        return value or None  # compose passes an unset variable as ""

    @field_validator("send_quiet_hours", "sms_quiet_hours", mode="before")
    @classmethod
    def _quiet_hours(cls, value: object) -> object:
        return QuietHours.parse(value) if isinstance(value, str) and value else value or None
