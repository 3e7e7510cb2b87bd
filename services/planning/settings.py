from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class PlanningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/planning.db"
    http_port: int = 8001
    consumer_group: str = "planning"
    lix_warning_threshold: float = Field(
        40.0, gt=0, description="Messages to citizens above it get a warning."
    )
    due_check_interval_seconds: float = Field(30.0, gt=0)
    four_eyes_approval: bool = Field(
        False, description="A plan is approved only by someone other than who submitted it."
    )
    overlap_window_days: float = Field(
        14, ge=0, description="Activities to one audience this close clash."
    )
