"""`make run` keeps the stack up: a service that crashes is started again, after a pause that
grows while it keeps crashing, and the runner says so."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts.stack import Restarter, ServiceProcess

pytestmark = pytest.mark.integration


def test_a_crashing_service_is_restarted_with_a_growing_pause(tmp_path: Path) -> None:
    crashing = ServiceProcess("probe", {}, tmp_path / "probe.log", module="tests.exits_soon")
    said: list[str] = []
    restarter = Restarter([crashing], report=said.append)
    crashing.start()
    pids = {crashing.process.pid}
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and len(said) < 3:
            restarter.check()
            if crashing.process is not None:
                pids.add(crashing.process.pid)
            time.sleep(0.05)
    finally:
        crashing.stop()
    assert len(said) >= 3, said
    assert all(line.startswith("probe exited (3); restarting in ") for line in said)
    assert [f"crash {n} in a row" in line for n, line in enumerate(said[:3], 1)] == [True] * 3
    pauses = [float(line.split("restarting in ")[1].split(" s")[0]) for line in said[:3]]
    assert pauses[0] <= 1.0 and pauses[2] >= 2.0  # 0.5–1 s, then 1–2 s, then 2–4 s
    assert len(pids) >= 3  # started again each time
