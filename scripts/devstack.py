"""`make run`: the whole stack on this machine on the embedded defaults.

Tansu broker (its topics created as `python -m scripts.topics` does), SMTP sink, SMS
gateway sink, the four services on SQLite under var/, and Prometheus (the shipped scrape
configuration and alert rules, pointed at them) if it is installed. Prints the URLs, a token per role
and where caught mail and text messages land; a service that crashes is started again (with a growing pause while it keeps
crashing); Ctrl-C stops everything. Data in var/ survives restarts (the broker is
memory-only: what it held is gone, the outbox isn't).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
import time

from scripts import topics
from scripts.stack import (
    DEV_SMS_REPLY_SECRET,
    ROOT,
    SERVICES,
    Prometheus,
    Restarter,
    ServiceProcess,
    SmsSink,
    SmtpSink,
    Tansu,
    prometheus_config,
    running,
    service_env,
)
from shared.auth import DEV_AUDIENCE, DEV_ISSUER, dev_tokens

VAR = ROOT / "var"
PORTS = {"planning": 8001, "events": 8002, "notifications": 8003, "metrics": 8004}


def jwt_secret() -> str:
    """One secret per checkout, kept in var/, so printed tokens stay valid across runs."""
    path = VAR / "dev-jwt-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_topics(bootstrap: str) -> None:
    """What `python -m scripts.topics` does: every topic and dead-letter topic, with the
    partitions and retention the TOPICS_* variables (or the defaults) say."""
    settings = topics.TopicSettings(kafka_bootstrap_servers=bootstrap)
    plan = asyncio.run(topics.create_topics(settings, report=lambda _line: None))
    if lost := topics.missing(plan):
        raise SystemExit(f"the broker did not create the topics {', '.join(lost)}")
    print(f"{len(plan)} topics and dead-letter topics ready", flush=True)


def main() -> int:
    VAR.mkdir(exist_ok=True)
    secret = jwt_secret()
    broker_port = int(os.environ.get("BUDSKAB_BROKER_PORT", 9092))
    smtp_port = int(os.environ.get("BUDSKAB_SMTP_PORT", 1025))
    tansu = Tansu(broker_port, log_path=VAR / "logs" / "tansu.log")
    sink = SmtpSink(smtp_port, maildir=VAR / "mail")
    sms = SmsSink(int(os.environ.get("BUDSKAB_SMS_PORT", 1026)), path=VAR / "sms.jsonl")
    (VAR / "logs").mkdir(exist_ok=True)
    services = [
        ServiceProcess(
            name,
            {
                **service_env(
                    name,
                    database_url=f"sqlite+aiosqlite:///{VAR / name}.db",
                    bootstrap=f"127.0.0.1:{broker_port}",
                    jwt_secret=secret,
                    smtp_port=smtp_port,
                ),
                f"{name.upper()}_HTTP_PORT": os.environ.get(
                    f"{name.upper()}_HTTP_PORT", str(PORTS[name])
                ),
                f"{name.upper()}_JWT_ISSUER": DEV_ISSUER,  # checked, as in production
                f"{name.upper()}_JWT_AUDIENCE": DEV_AUDIENCE,
                # everyone here is one address, and `make demo` registers some 350 people
                "EVENTS_REGISTRATION_RATE_LIMIT": os.environ.get(
                    "EVENTS_REGISTRATION_RATE_LIMIT", "1000/minute"
                ),
                "EVENTS_TIMER_INTERVAL_SECONDS": "5",
                "NOTIFICATIONS_SMS_GATEWAY_URL": sms.url,
                "NOTIFICATIONS_SMS_GATEWAY_TOKEN": sms.token,
                # replies (STOP) signed as the local gateway would: see the README
                "NOTIFICATIONS_SMS_REPLY_SECRET": DEV_SMS_REPLY_SECRET,
                "NOTIFICATIONS_WEBHOOK_ALLOW_LOCAL": "true",  # a receiver on this machine
            },
            VAR / "logs" / f"{name}.log",
        )
        for name in SERVICES
    ]
    ports = {service.name: service.port for service in services}
    prometheus = (
        Prometheus(
            prometheus_config(ports, token_file=None),  # /metrics is open here
            VAR / "prometheus",
            int(os.environ.get("BUDSKAB_PROMETHEUS_PORT", 9090)),
        )
        if shutil.which("prometheus")
        else None
    )
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with running(tansu, sink, sms, *services, *filter(None, [prometheus])):
        print(f"starting the Tansu broker on 127.0.0.1:{broker_port} …", flush=True)
        tansu.start()
        create_topics(tansu.bootstrap)
        sink.start()
        sms.start()
        for service in services:
            service.start()
        for service in services:
            print(f"waiting for {service.name} …", flush=True)
            service.wait_ready()
        if prometheus is not None:
            try:
                prometheus.start()
            except RuntimeError as exc:  # the stack runs on without it
                print(f"Prometheus not started: {exc}", flush=True)
                prometheus = None
        print_banner(services, secret, broker_port, smtp_port, sms, prometheus)
        restarter = Restarter(services, report=lambda line: print(line, flush=True))
        while not stop:  # a service that dies is started again; the others keep running
            restarter.check()
            time.sleep(0.5)
        print("\nstopping …", flush=True)
    print("stopped. Data is kept in var/; `make run` again picks it up.")
    return 0


def print_banner(
    services: list[ServiceProcess],
    secret: str,
    broker: int,
    smtp: int,
    sms: SmsSink,
    prometheus: Prometheus | None,
) -> None:
    print("\nBudskab is running (Ctrl-C stops everything)\n")
    for service in services:
        print(
            f"  {service.name:<14} {service.url}/v1   API docs {service.url}/docs   "
            f"metrics {service.url}/metrics"
        )
    print(f"\n  Kafka broker   127.0.0.1:{broker} (Tansu, memory only)")
    print(f"  SMTP sink      127.0.0.1:{smtp}; caught mail is saved in {VAR / 'mail'}/*.eml")
    print(f"  SMS gateway    {sms.url} (GatewayAPI's call); texts are saved in {sms.path}")
    if prometheus is not None:
        print(f"  Prometheus     {prometheus.url} (deploy/prometheus: its alert rules at /alerts)")
    else:
        print("  Prometheus     not installed (`make tools` installs it; then `make run` again)")
    print(f"  logs           {VAR / 'logs'}/")
    print("\nDev tokens (send as 'Authorization: Bearer <token>'; valid 12 hours):")
    for role, token in dev_tokens(secret).items():
        print(f"  {role:<14} {token}")
    print("\nLoad the Aarhus 'Kommune forfra' demo from another terminal: make demo\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
