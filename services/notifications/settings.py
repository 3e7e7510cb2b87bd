from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/notifications.db"
    http_port: int = 8003
    consumer_group: str = "notifications"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    mail_from: str = "Budskab <budskab@localhost>"
    send_max_attempts: int = Field(5, ge=1)
    send_retry_base_seconds: float = Field(2.0, gt=0)
    send_batch_size: int = Field(50, gt=0)
    send_poll_interval_seconds: float = Field(0.5, gt=0)
