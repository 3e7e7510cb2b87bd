from services.notifications.tables import Base
from shared.migrations_env import run_migrations

run_migrations(Base.metadata)
