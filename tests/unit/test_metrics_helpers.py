"""shared.metrics.observe_many against prometheus_client's own observe."""

import pytest
from prometheus_client import CollectorRegistry, Histogram

from shared.metrics import observe_many


def samples(histogram: Histogram, name: str) -> dict[tuple[str, str], float]:
    """(sample kind, bucket) -> value: ("_bucket", "0.005"), ("_count", ""), ("_sum", "")."""
    return {
        (s.name.removeprefix(name), s.labels.get("le", "")): s.value
        for metric in histogram.collect()
        for s in metric.samples
    }


@pytest.mark.parametrize("amount", [0.0, 0.004, 0.005, 0.3, 7.0, 11.0])
@pytest.mark.parametrize("count", [1, 3, 500])
def test_observing_many_at_once_is_observing_each(amount: float, count: int) -> None:
    registry = CollectorRegistry()
    each = Histogram("each", "", ["group"], registry=registry)
    many = Histogram("many", "", ["group"], registry=registry)
    for _ in range(count):
        each.labels("g").observe(amount)
    observe_many(many.labels("g"), amount, count)
    expected, got = samples(each, "each"), samples(many, "many")
    assert got == pytest.approx(expected)  # the sum: one product, not `count` additions
    assert got[("_count", "")] == count
