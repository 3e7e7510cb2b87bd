"""What counts as an outage to wait out, rather than a message to dead-letter."""

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.retry import backoff_delay, is_transient


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def dbapi_error(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, PgError(sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        dbapi_error("57P03"),  # the database system is starting up / not accepting connections
        dbapi_error("53300"),  # too many clients
        dbapi_error("08006"),  # connection failure
        OperationalError("SELECT 1", {}, Exception("database is locked")),
        PoolTimeout("QueuePool limit reached"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_outages_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, PgError("23505")),  # a duplicate key: a fault of this message
        dbapi_error("22P02"),  # invalid text representation
        ValueError("bad data"),
        KeyError("missing"),
    ],
)
def test_faults_of_the_message_are_not(exc: Exception) -> None:
    assert not is_transient(exc)


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        delays = [backoff_delay(attempt, base=0.5, cap=30.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
