"""Real parts for the suite: a Tansu broker, a PostgreSQL 15 cluster, an SMTP sink, and a
browser (Debian's chromium, driven by Playwright) for the pages people use.

None of them is ever skipped: if one cannot start, the tests that need it fail.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from scripts.stack import Postgres, SmsSink, SmtpSink, Tansu


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Storage-sensitive tests run once on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database(f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Tansu]:
    """A fresh broker per test: no topic or consumer group leaks between tests."""
    tansu = Tansu(log_path=tmp_path / "tansu.log").start()
    yield tansu
    tansu.stop()


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(maildir=tmp_path / "mail").start()
    yield sink
    sink.stop()


@pytest.fixture
def sms_sink(tmp_path: Path) -> Iterator[SmsSink]:
    sink = SmsSink(path=tmp_path / "sms.jsonl").start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run `make tools` (Debian package chromium)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        yield browser
        await browser.close()
