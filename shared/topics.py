"""Every Kafka topic name, in one place. Topics are per aggregate, keyed by aggregate id."""

PLANS = "budskab.plans"
ACTIVITIES = "budskab.activities"
EVENTS = "budskab.events"
REGISTRATIONS = "budskab.registrations"  # keyed by event id: one event's seats in order
DELIVERIES = "budskab.deliveries"
CONTACTS = "budskab.contacts"  # keyed by the hash of the address: a person, not by name
KPIS = "budskab.kpis"
SURVEYS = "budskab.surveys"  # keyed by event id (a survey of no event: its own id)

ALL = (PLANS, ACTIVITIES, EVENTS, REGISTRATIONS, DELIVERIES, CONTACTS, KPIS, SURVEYS)


def dead_letter_topic(group_id: str) -> str:
    """Each consumer group has its own dead-letter topic."""
    return f"{group_id}.dlq"
