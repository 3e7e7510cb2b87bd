"""Prometheus metrics every service exports (names follow the official conventions)."""

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # no *_created series: they double the output and nobody graphs them

HTTP_REQUESTS = Counter(
    "budskab_http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "budskab_http_request_duration_seconds", "HTTP request duration.", ["method", "route"]
)
CONSUMER_MESSAGES = Counter(
    "budskab_consumer_messages_total",
    "Messages taken from Kafka, by outcome (processed, duplicate, dead_lettered).",
    ["group", "topic", "outcome"],
)
CONSUMER_DURATION = Histogram(
    "budskab_consumer_handling_duration_seconds",
    "Time to handle one message (its share of its batch), retries included.",
    ["group", "topic"],
)
CONSUMER_FAILURES = Counter(
    "budskab_consumer_failures_total", "Handler attempts that raised.", ["group", "topic"]
)
DLQ_MESSAGES = Counter(
    "budskab_dlq_messages_total",
    "Messages sent to the dead-letter topic, by reason (invalid, failed).",
    ["group", "reason"],
)
CONSUMER_LAG = Gauge(
    "budskab_consumer_lag",
    "Messages on a partition the consumer group has not committed yet (its end minus its "
    "committed offset), refreshed every 15 s.",
    ["group", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge("budskab_outbox_backlog", "Outbox rows not yet published.")
OUTBOX_OLDEST_AGE = Gauge(
    "budskab_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 if none)."
)
OUTBOX_PUBLISHED = Counter("budskab_outbox_published_total", "Outbox rows published to Kafka.")
OUTBOX_PUBLISH_FAILURES = Counter(
    "budskab_outbox_publish_failures_total", "Relay batches that failed to publish."
)
TIMERS_DUE = Gauge("budskab_timers_due", "Durable timers whose time has come but have not fired.")
TIMERS_FIRED = Counter("budskab_timers_fired_total", "Durable timers fired.")

# Business metrics, exported by the service that owns the facts.
DELIVERIES = Counter(
    "budskab_deliveries_total", "Deliveries finished, by channel and status.", ["channel", "status"]
)
DELIVERIES_DUE = Gauge(
    "budskab_deliveries_due", "Deliveries whose time has come, not sent yet (notifications)."
)
DELIVERY_QUEUE_AGE = Gauge(
    "budskab_delivery_queue_age_seconds",
    "How long the oldest due delivery has waited (0 when none waits).",
)
SENDS_RUNNING = Gauge("budskab_sends_running", "Sends being fanned out or sent (notifications).")


def observe_many(histogram: Histogram, amount: float, count: int) -> None:
    """`histogram.observe(amount)` `count` times, at the cost of one: a consumer gives each
    message of a batch the same share of its time, and 500 calls cost more than handling
    the batch's inbox claim. (prometheus_client has no weighted observe; this does what its
    `observe` does, for a labelled child.)"""
    histogram._sum.inc(amount * count)
    for bucket, bound in zip(histogram._buckets, histogram._upper_bounds, strict=True):
        if amount <= bound:
            bucket.inc(count)
            break
