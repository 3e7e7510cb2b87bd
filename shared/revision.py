"""Write a new Alembic migration for a service from the difference between its tables and
its migrations:  python -m shared.revision planning "add goals"
"""

import sys
import tempfile
from pathlib import Path

from alembic import command

from shared.db import alembic_config


def main(service: str, message: str) -> None:
    migrations = Path(__file__).parent.parent / "services" / service / "migrations"
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(migrations, f"sqlite+aiosqlite:///{tmp}/scratch.db")
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
