# the aggregates' modules map their tables onto Base: imported, so autogenerate sees them all
import services.planning.plans.model
import services.planning.strategies.model  # noqa: F401
from services.planning.tables import Base
from shared.migrations_env import run_migrations

run_migrations(Base.metadata)
