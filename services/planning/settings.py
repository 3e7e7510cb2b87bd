from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class PlanningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/planning.db"
    http_port: int = 8001
    consumer_group: str = "planning"
