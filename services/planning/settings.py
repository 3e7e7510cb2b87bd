from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.http import get_settings
from shared.settings import ServiceSettings


class PlanningSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/planning.db"
    http_port: int = 8001
    public_url: str = Field(
        "http://127.0.0.1:8001",
        description="Where people reach this service's pages: the base of strategy report links.",
    )
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


Settings = Annotated[PlanningSettings, Depends(get_settings)]  # a route's own service's settings
