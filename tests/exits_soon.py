"""A service that crashes a moment after it starts (exit code 3): for `make run`'s restarter.
Run as `python -m tests.exits_soon`."""

import time

time.sleep(0.2)
raise SystemExit(3)
