"""Create every Kafka topic and every consumer group's dead-letter topic, with partitions and
retention, before the services start:

    python -m scripts.topics [--bootstrap-servers kafka:9092] [--partitions 6] ...

Idempotent: a topic that exists is left as it is — run it before every rollout, as often as
you like. It says what it found; an existing topic with fewer partitions or another retention
than asked is reported (with the command that changes it), not changed: adding partitions
moves keys to other partitions, which breaks the order of an aggregate's events in flight.
It exits non-zero when a topic could not be created (say, a replication factor larger than
the cluster). docker-compose.yml runs it as a one-shot service, deploy/k8s as a Job, and
`make run` once its broker is up. (The services also create missing topics at start, with
the broker's retention: this command is what sets it.)

Each setting comes from its argument, else the environment variable TOPICS_<NAME>, else the
default (`--help` lists them). The topics are shared/topics.py's ALL; the dead-letter topics
are `<group>.dlq` for the services' consumer groups (their CONSUMER_GROUP defaults), or for
the groups given with --group.

Retention of the event topics is bounded by the inbox: a consumer group whose offsets
expired reads a topic from its start again, and only the inbox (rows kept INBOX_KEPT, 30
days) makes that harmless. Kafka deletes a record only with its segment, up to segment.ms
(7 days by default) after the retention, so the retention may not exceed INBOX_KEPT minus
those 7 days (552 hours). Dead-letter topics are read by people, not by the services: any retention
(-1: forever).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scripts.migrate import SETTINGS, settings_class
from shared import topics
from shared.messaging import ensure_topics
from shared.runtime import INBOX_KEPT

SEGMENT_SLACK = timedelta(days=7)  # Kafka's default segment.ms: how late a record may go
MAX_RETENTION_HOURS = (INBOX_KEPT - SEGMENT_SLACK) / timedelta(hours=1)


class TopicSettings(BaseSettings):
    """What the command reads from TOPICS_* variables (arguments take precedence)."""

    model_config = SettingsConfigDict(env_prefix="TOPICS_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers (host:port, comma-separated)."
    )
    partitions: int = Field(
        3, ge=1, description="Partitions of each new topic: the most replicas a group can use."
    )
    replication_factor: int = Field(1, ge=1, description="3 on a production cluster.")
    retention_hours: float = Field(
        7 * 24,
        gt=0,
        le=MAX_RETENTION_HOURS,
        description="How long the event topics keep a message (Kafka's default, 7 days); "
        f"at most {MAX_RETENTION_HOURS:g}, which the inbox covers.",
    )
    dlq_retention_hours: float = Field(
        30 * 24, description="How long the dead-letter topics keep a message; -1: forever."
    )

    @field_validator("dlq_retention_hours")
    @classmethod
    def _positive_or_forever(cls, value: float) -> float:
        if value <= 0 and value != -1:
            raise ValueError("a positive number of hours, or -1 for forever")
        return value


def default_groups() -> list[str]:
    """The services' consumer groups, as their settings name them by default."""
    return [settings_class(service).model_fields["consumer_group"].default for service in SETTINGS]


def retention_ms(hours: float) -> str:
    return "-1" if hours == -1 else str(round(hours * 3600 * 1000))


@dataclass
class Planned:
    """One topic: what it should be, and what the broker holds."""

    name: str
    retention_ms: str
    existed: bool = False
    partitions: int | None = None  # as found after creating
    found_retention_ms: str | None = None  # None: the broker did not say


async def _describe(admin: AIOKafkaAdminClient, wanted: list[Planned]) -> None:
    names = set(await admin.list_topics())  # all topics: a metadata request that creates none
    present = [topic for topic in wanted if topic.name in names]
    if not present:
        return
    described = {t["topic"]: t for t in await admin.describe_topics([p.name for p in present])}
    for topic in present:
        info = described.get(topic.name)
        if info is not None and info["error_code"] == 0:
            topic.partitions = len(info["partitions"])
    # every config of each topic: Tansu cannot answer a request for some by name
    resources = [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in present]
    by_name = {t.name: t for t in present}
    for response in await admin.describe_configs(resources):
        for error_code, _message, _type, name, entries, *_ in response.resources:
            if error_code != 0 or name not in by_name:
                continue
            for entry in entries:
                if entry[0] == "retention.ms":
                    by_name[name].found_retention_ms = entry[1]


async def create_topics(
    settings: TopicSettings,
    groups: Sequence[str] | None = None,
    *,
    report: Callable[[str], None] = print,
) -> list[Planned]:
    """Create what is missing, then report every topic as the broker holds it."""
    groups = list(groups) if groups else default_groups()
    plan = [Planned(name, retention_ms(settings.retention_hours)) for name in topics.ALL]
    plan += [
        Planned(topics.dead_letter_topic(group), retention_ms(settings.dlq_retention_hours))
        for group in groups
    ]
    bootstrap = settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        for topic in plan:
            topic.existed = topic.name in existing
        for retention in sorted({t.retention_ms for t in plan}):
            await ensure_topics(
                bootstrap,
                [t.name for t in plan if t.retention_ms == retention],
                settings.partitions,
                settings.replication_factor,
                configs={"retention.ms": retention},
            )
        await _describe(admin, plan)
    finally:
        await admin.close()
    _report(plan, settings, report)
    return plan


def missing(plan: list[Planned]) -> list[str]:
    """The topics the broker does not hold after all."""
    return [topic.name for topic in plan if topic.partitions is None]


def _report(plan: list[Planned], settings: TopicSettings, report: Callable[[str], None]) -> None:
    width = max(len(t.name) for t in plan)
    for topic in plan:
        if topic.partitions is None:
            report(
                f"{topic.name:<{width}}  NOT CREATED: does the cluster have "
                f"{settings.replication_factor} broker(s) for its replication factor?"
            )
            continue
        state = "exists " if topic.existed else "created"
        retention = _hours(topic.found_retention_ms)
        report(f"{topic.name:<{width}}  {state}  {topic.partitions} partitions, {retention}")
        if topic.partitions < settings.partitions:
            report(
                f"  note: not {settings.partitions} partitions: a group uses at most "
                f"{topic.partitions} replicas (kafka-topics.sh --alter --partitions adds some; "
                "keys then go to other partitions)"
            )
        if topic.found_retention_ms != topic.retention_ms:
            report(
                f"  note: retention.ms is {topic.found_retention_ms or 'the broker default'}, "
                f"not {topic.retention_ms} (kafka-configs.sh --alter --entity-type topics "
                f"--entity-name {topic.name} --add-config retention.ms={topic.retention_ms})"
            )
    created = sum(1 for t in plan if not t.existed and t.partitions is not None)
    report(f"{len(plan) - len(missing(plan))} of {len(plan)} topics ready, {created} created now")


def _hours(ms: str | None) -> str:
    if ms is None:
        return "retention: the broker's default"
    if ms == "-1":
        return "kept forever"
    return f"kept {int(ms) / 3_600_000:g} hours"


def _help(name: str) -> str:
    field = TopicSettings.model_fields[name]
    default = f"{field.default:g}" if isinstance(field.default, float) else field.default
    return f"{field.description} Default: TOPICS_{name.upper()}, else {default}."


def parse_args(argv: Sequence[str] | None) -> tuple[TopicSettings, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.topics",
        description="Create every Budskab topic and dead-letter topic, with partitions and "
        "retention; topics that exist are left as they are (idempotent).",
    )
    for option, name, kind in [
        ("--bootstrap-servers", "kafka_bootstrap_servers", str),
        ("--partitions", "partitions", int),
        ("--replication-factor", "replication_factor", int),
        ("--retention-hours", "retention_hours", float),
        ("--dlq-retention-hours", "dlq_retention_hours", float),
    ]:
        parser.add_argument(option, dest=name, type=kind, help=_help(name))
    parser.add_argument(
        "--group",
        action="append",
        dest="groups",
        help="a consumer group whose dead-letter topic <group>.dlq to create (repeat it); "
        "default: the services' groups",
    )
    args = vars(parser.parse_args(argv))
    groups = args.pop("groups") or []
    try:
        settings = TopicSettings(**{k: v for k, v in args.items() if v is not None})
    except ValidationError as exc:
        parser.error(str(exc))
    return settings, groups


def main(argv: Sequence[str] | None = None) -> int:
    settings, groups = parse_args(argv)
    plan = asyncio.run(create_topics(settings, groups))
    return 1 if missing(plan) else 0


if __name__ == "__main__":
    sys.exit(main())
