"""`make watch`: print every Budskab event as it arrives, with a plain Kafka consumer (no
consumer group, nothing of ours but the topic names), the way another system would see them.

    python -m scripts.watch                  # new events from now on
    python -m scripts.watch --from-beginning  # everything the broker still has
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import topics


async def watch(bootstrap: str, from_beginning: bool) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics.ALL
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        print(f"watching {', '.join(topics.ALL)} on {bootstrap} (Ctrl-C stops)", flush=True)
        async for record in consumer:
            event = json.loads(record.value)
            data = event.get("data", {})
            about = data.get("title") or data.get("change") or data.get("metric") or ""
            print(
                f"{event.get('time', '')[:19]}  {record.topic:<20} {event.get('type', '?'):<24} "
                f"{event.get('subject', '')[:36]:<36} {about}",
                flush=True,
            )
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--from-beginning", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(watch(args.bootstrap, args.from_beginning))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
