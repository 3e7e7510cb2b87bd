from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/events.db"
    http_port: int = 8002
    consumer_group: str = "events"
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
