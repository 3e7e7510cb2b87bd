"""`python -m scripts.topics` against a real broker (Tansu): every topic and every consumer
group's dead-letter topic, with the partitions and retention asked for, and a second run
that changes nothing — what compose, the Kubernetes Job and `make run` rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from scripts.stack import Tansu
from shared import topics
from shared.messaging import ensure_topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOUR_MS = 3_600_000
# the services' consumer groups (their CONSUMER_GROUP defaults), each with its own DLQ
DEAD_LETTER_TOPICS = {"planning.dlq", "events.dlq", "notifications.dlq", "metrics.dlq"}


def topics_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOPICS_")}
    return subprocess.run(
        [sys.executable, "-m", "scripts.topics", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def describe(bootstrap: str) -> dict[str, tuple[int, str | None]]:
    """Every topic on the broker: (partitions, retention.ms)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = await admin.list_topics()
        partitions = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
        retention: dict[str, str | None] = dict.fromkeys(names)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        for response in await admin.describe_configs(resources):
            for _error, _message, _type, name, entries, *_ in response.resources:
                for entry in entries:
                    if entry[0] == "retention.ms":
                        retention[name] = entry[1]
    finally:
        await admin.close()
    return {name: (partitions[name], retention[name]) for name in names}


def test_the_groups_are_the_services_consumer_groups():
    from scripts.topics import default_groups

    assert {topics.dead_letter_topic(g) for g in default_groups()} == DEAD_LETTER_TOPICS


async def test_creates_every_topic_and_dead_letter_topic_and_a_second_run_changes_nothing(
    broker: Tansu,
) -> None:
    # first from the environment (compose, Kubernetes), then from arguments
    first = topics_command(
        TOPICS_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        TOPICS_PARTITIONS="4",
        TOPICS_RETENTION_HOURS="48",
        TOPICS_DLQ_RETENTION_HOURS="-1",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "12 of 12 topics ready, 12 created now" in first.stdout
    found = await describe(broker.bootstrap)
    second = topics_command(
        "--bootstrap-servers",
        broker.bootstrap,
        "--partitions",
        "4",
        "--retention-hours",
        "48",
        "--dlq-retention-hours",
        "-1",
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "12 of 12 topics ready, 0 created now" in second.stdout
    assert "note:" not in second.stdout
    assert await describe(broker.bootstrap) == found

    assert set(topics.ALL) | DEAD_LETTER_TOPICS <= set(found)
    for name in topics.ALL:
        assert found[name] == (4, str(48 * HOUR_MS)), name
    for name in DEAD_LETTER_TOPICS:
        assert found[name] == (4, "-1"), name  # dead letters are kept for people to read


async def test_a_topic_a_service_created_first_is_left_as_it_is_and_reported(
    broker: Tansu,
) -> None:
    # a service that started before the command creates its topics with its own settings
    await ensure_topics(broker.bootstrap, [topics.PLANS], partitions=2)
    result = topics_command("--bootstrap-servers", broker.bootstrap, "--partitions", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 of 12 topics ready, 11 created now" in result.stdout
    assert "note: not 3 partitions" in result.stdout
    found = await describe(broker.bootstrap)
    assert found[topics.PLANS][0] == 2  # more partitions would move keys: not done
    assert found[topics.EVENTS] == (3, str(168 * HOUR_MS))  # the defaults: 7 days
    assert found["planning.dlq"] == (3, str(720 * HOUR_MS))  # and 30 days


def test_a_retention_longer_than_the_inbox_covers_is_refused() -> None:
    # no broker needed: the settings are checked before anything is created
    result = topics_command("--bootstrap-servers", "127.0.0.1:1", "--retention-hours", "720")
    assert result.returncode == 2
    assert "retention_hours" in result.stderr and "552" in result.stderr
