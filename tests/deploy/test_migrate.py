"""`python -m scripts.migrate`, what the Kubernetes migration Job runs: each named service's
database at its newest migration, from the service's own DATABASE_URL alone (no token key),
and a second run that finds nothing to do."""

from __future__ import annotations

import importlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("planning", "events", "notifications", "metrics")


def head(service: str) -> str:
    config = Config()
    migrations = Path(importlib.import_module(f"services.{service}").__file__).parent
    config.set_main_option("script_location", str(migrations / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrates_each_service_database_to_its_head_and_again_does_nothing(tmp_path: Path):
    prefixes = tuple(f"{s.upper()}_" for s in SERVICES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env |= {f"{s.upper()}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{s}.db" for s in SERVICES}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "scripts.migrate", *SERVICES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        for service in SERVICES:
            assert f"{service}: migrated to the newest schema" in result.stdout
    for service in SERVICES:
        with sqlite3.connect(tmp_path / f"{service}.db") as db:
            (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision == head(service), service


def test_an_unknown_service_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.migrate", "planing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "invalid choice: 'planing'" in result.stderr
