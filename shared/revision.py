"""Write a new Alembic migration for a service from the difference between its tables and
its migrations:  python -m shared.revision services/planning/migrations "add goals"
"""

import sys
import tempfile
from pathlib import Path

from alembic import command

from shared.db import alembic_config


def main(migrations: Path, message: str) -> None:
    if not (migrations / "env.py").is_file():
        sys.exit(f"{migrations} is not a service's migrations folder (it has no env.py)")
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(migrations, f"sqlite+aiosqlite:///{tmp}/scratch.db")
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2])
