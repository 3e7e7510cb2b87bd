from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/events.db"
    http_port: int = 8002
    consumer_group: str = "events"
