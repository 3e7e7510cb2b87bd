from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/metrics.db"
    http_port: int = 8004
    consumer_group: str = "metrics"
    gauge_refresh_seconds: float = Field(2.0, gt=0)
