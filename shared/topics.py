"""Every Kafka topic name, in one place. Topics are per aggregate, keyed by aggregate id."""

PLANS = "budskab.plans"
ACTIVITIES = "budskab.activities"
EVENTS = "budskab.events"
DELIVERIES = "budskab.deliveries"
KPIS = "budskab.kpis"

ALL = (PLANS, ACTIVITIES, EVENTS, DELIVERIES, KPIS)


def dead_letter_topic(group_id: str) -> str:
    """Each consumer group has its own dead-letter topic."""
    return f"{group_id}.dlq"
