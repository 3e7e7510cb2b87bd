from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/metrics.db"
    http_port: int = 8004
    consumer_group: str = "metrics"
    gauge_refresh_seconds: float = Field(2.0, gt=0)
    # the reach gauge counts the contacts of every delivery: less often than the others
    reach_refresh_seconds: float = Field(30.0, gt=0)
    kpi_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="How often counted goals are measured: at most one kpi.measured.v1 per "
        "goal per interval, however many events were counted.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8004",
        description="Where people reach this service's pages: the base of survey links.",
    )
