from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/events.db"
    http_port: int = 8002
    consumer_group: str = "events"
    link_secret: SecretStr | None = Field(
        None,
        description="Key that signs attendees' personal links (at least 32 bytes); "
        "without it, the HS256 token key signs them, under its own salt.",
    )
    offer_hold_hours: float = Field(
        24, gt=0, description="How long a seat offered from the waitlist is held."
    )
    public_url: str = Field(
        "http://127.0.0.1:8002",
        description="Where people reach this service's pages: the base of links in e-mails.",
    )
    reminder_days: list[int] = Field(
        [7, 1], description="Days before an event that its attendees are reminded."
    )
    timer_interval_seconds: float = Field(
        30, gt=0, description="How often due reminders, survey requests and offers are looked for."
    )
    registration_rate_limit: str = Field(
        "30/minute", description="Registrations one client (IP address) may send, per window."
    )

    @model_validator(mode="after")
    def _check_link_secret(self) -> "EventsSettings":
        if self.link_secret is None:
            if self.jwt_secret is None:
                raise ValueError("set EVENTS_LINK_SECRET: there is no HS256 key to sign with")
        elif len(self.link_secret.get_secret_value().encode()) < 32:
            raise ValueError("EVENTS_LINK_SECRET is shorter than 32 bytes")
        return self

    @property
    def signing_key(self) -> str:
        secret = self.link_secret or self.jwt_secret
        assert secret is not None  # checked above
        return secret.get_secret_value()
