"""Every Kafka topic name, in one place. Topics are per aggregate, keyed by aggregate id."""

PLANS = "budskab.plans"
ACTIVITIES = "budskab.activities"
EVENTS = "budskab.events"
REGISTRATIONS = "budskab.registrations"  # keyed by event id: one event's seats in order
DELIVERIES = "budskab.deliveries"
CONTACTS = "budskab.contacts"  # keyed by the hash of the address: a person, not by name
KPIS = "budskab.kpis"

ALL = (PLANS, ACTIVITIES, EVENTS, REGISTRATIONS, DELIVERIES, CONTACTS, KPIS)


def dead_letter_topic(group_id: str) -> str:
    """Each consumer group has its own dead-letter topic."""
    return f"{group_id}.dlq"
