"""Settings fail fast on unsafe secrets; tokens carry roles and are checked strictly."""

import time

import jwt
import pytest
from pydantic import ValidationError

from services.planning.settings import PlanningSettings
from shared.auth import Role, TokenVerifier, dev_tokens, issue_token
from shared.settings import DEV_JWT_SECRET

SECRET = "a-long-enough-secret-for-the-unit-tests-0123"


def settings(**values) -> PlanningSettings:  # type: ignore[no-untyped-def]
    return PlanningSettings(_env_file=None, **values)


def test_a_service_will_not_start_without_a_token_key() -> None:
    with pytest.raises(ValidationError, match="no token key configured"):
        settings()


@pytest.mark.parametrize("secret", ["changeme", "secret", "short"])
def test_placeholder_and_short_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="placeholder or shorter than 32 bytes"):
        settings(jwt_secret=secret)


@pytest.mark.parametrize(
    "token", ["change-me-the-token-prometheus-scrapes-with", "short", "changeme"]
)
def test_a_placeholder_or_short_metrics_token_is_refused(token: str) -> None:
    """The example Secret's value would leave /metrics open to whoever reads the example."""
    with pytest.raises(ValidationError, match="METRICS_TOKEN is a placeholder"):
        settings(jwt_secret=SECRET, metrics_token=token)
    given = settings(jwt_secret=SECRET, metrics_token=f"{SECRET}\n").metrics_token
    assert given is not None and given.get_secret_value() == SECRET  # as Prometheus reads it


def test_the_dev_secret_needs_dev_mode() -> None:
    assert settings(dev_mode=True).jwt_secret.get_secret_value() == DEV_JWT_SECRET
    with pytest.raises(ValidationError, match="only with DEV_MODE"):
        settings(jwt_secret=DEV_JWT_SECRET)


def test_settings_come_from_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANNING_JWT_SECRET", SECRET)
    monkeypatch.setenv("PLANNING_HTTP_PORT", "9101")
    monkeypatch.setenv("EVENTS_HTTP_PORT", "9999")
    assert settings().http_port == 9101


def test_trusted_proxies_are_addresses_or_networks() -> None:
    given = settings(jwt_secret=SECRET, http_trusted_proxies=" 10.0.0.0/8, ::1 ,192.168.1.1")
    assert given.http_trusted_proxies == "10.0.0.0/8,::1,192.168.1.1"
    assert settings(jwt_secret=SECRET, http_trusted_proxies="*").http_trusted_proxies == "*"
    assert settings(jwt_secret=SECRET, http_trusted_proxies="").http_trusted_proxies == ""
    for wrong in ["ingress.local", "10.0.0.0/33", "10.0.0.1, *"]:
        with pytest.raises(ValidationError, match="not an IP address or network"):
            settings(jwt_secret=SECRET, http_trusted_proxies=wrong)


def test_a_token_yields_the_principal_and_roles() -> None:
    verifier = TokenVerifier(settings(jwt_secret=SECRET))
    principal = verifier.verify(issue_token(SECRET, subject="ann", roles=["planner"], name="Ann"))
    assert principal.subject == "ann" and principal.name == "Ann"
    assert principal.roles == {"planner"}


def test_keycloak_style_realm_roles_are_understood() -> None:
    token = jwt.encode(
        {"sub": "bo", "exp": int(time.time()) + 60, "realm_access": {"roles": ["analyst"]}}, SECRET
    )
    assert TokenVerifier(settings(jwt_secret=SECRET)).verify(token).roles == {"analyst"}


def test_expired_foreign_and_unsigned_tokens_are_refused() -> None:
    verifier = TokenVerifier(settings(jwt_secret=SECRET))
    with pytest.raises(jwt.ExpiredSignatureError):
        verifier.verify(issue_token(SECRET, subject="ann", roles=[], ttl_seconds=-10))
    with pytest.raises(jwt.InvalidSignatureError):
        verifier.verify(
            issue_token("another-secret-that-is-also-long-enough", subject="a", roles=[])
        )
    unsigned = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, key=None, algorithm="none")
    with pytest.raises(jwt.InvalidAlgorithmError):
        verifier.verify(unsigned)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    verifier = TokenVerifier(
        settings(jwt_secret=SECRET, jwt_issuer="https://idp.aarhus.example", jwt_audience="budskab")
    )
    good = issue_token(
        SECRET, subject="a", roles=[], issuer="https://idp.aarhus.example", audience="budskab"
    )
    assert verifier.verify(good).subject == "a"
    with pytest.raises(jwt.InvalidIssuerError):
        verifier.verify(
            issue_token(
                SECRET, subject="a", roles=[], issuer="https://evil.example", audience="budskab"
            )
        )


def test_dev_mode_prints_one_token_per_role() -> None:
    tokens = dev_tokens(DEV_JWT_SECRET)
    assert set(tokens) == {r.value for r in Role}
    verifier = TokenVerifier(settings(dev_mode=True))
    assert verifier.verify(tokens["event_manager"]).roles == {"event_manager"}


def test_a_token_valid_for_longer_than_the_service_allows_is_refused() -> None:
    verifier = TokenVerifier(settings(jwt_secret=SECRET))  # 12 hours by default
    century = issue_token(SECRET, subject="ann", roles=["planner"], ttl_seconds=100 * 365 * 86400)
    with pytest.raises(jwt.InvalidTokenError, match="longer than the 43200 s"):
        verifier.verify(century)
    assert verifier.verify(issue_token(SECRET, subject="ann", roles=[], ttl_seconds=12 * 3600))
    strict = TokenVerifier(settings(jwt_secret=SECRET, jwt_max_lifetime_seconds=600))
    with pytest.raises(jwt.InvalidTokenError):
        strict.verify(issue_token(SECRET, subject="ann", roles=[], ttl_seconds=3600))


def test_the_dev_tokens_carry_the_issuer_and_audience_make_run_checks() -> None:
    from shared.auth import DEV_AUDIENCE, DEV_ISSUER

    checking = TokenVerifier(
        settings(jwt_secret=SECRET, jwt_issuer=DEV_ISSUER, jwt_audience=DEV_AUDIENCE)
    )
    assert {checking.verify(t).subject for t in dev_tokens(SECRET).values()} == {
        f"dev-{role.value}" for role in Role
    }


def test_access_log_lines_carry_no_client_address_personal_link_nor_query_value() -> None:
    import logging

    from shared.logging import _PrivateAccessLog

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "10.1.2.3:5555",
            "POST",
            "/invitations/abc.def/rsvp?lang=da&to=anne@aarhus.dk&anne@aarhus.dk",
            "1.1",
            200,
        ),
        None,
    )
    _PrivateAccessLog().filter(record)
    assert record.getMessage() == '- - "POST /invitations/…/rsvp?lang=…&to=…&… HTTP/1.1" 200'
    plain = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        "%s %s %s %s %d",
        ("-", "GET", "/healthz", "1.1", 200),
        None,
    )
    _PrivateAccessLog().filter(plain)
    assert plain.getMessage() == "- GET /healthz 1.1 200"  # no query, nothing added


def route_paths(routes: list, prefix: str = "") -> list[str]:
    """Every route's path, through the routers FastAPI includes (lazily, as _IncludedRouter)."""
    found = []
    for route in routes:
        if (router := getattr(route, "original_router", None)) is not None:
            found += route_paths(router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "path"):
            found.append(prefix + route.path)
    return found


def test_no_personal_link_of_any_service_reaches_the_access_log() -> None:
    """Every route of the four services that takes a link's token, as it would be logged."""
    import logging

    from services.events.app import create_app as events
    from services.events.settings import EventsSettings
    from services.metrics.app import create_app as metrics
    from services.metrics.settings import MetricsSettings
    from services.notifications.app import create_app as notifications
    from services.notifications.settings import NotificationsSettings
    from services.planning.app import create_app as planning
    from services.planning.settings import PlanningSettings
    from shared.logging import _PrivateAccessLog

    token = "IjA0ODEzMzQ1L2FsaWNlQGV4YW1wbGUub3JnIg.94PBgs"
    linked = []
    for create, settings_class in [
        (planning, PlanningSettings),
        (events, EventsSettings),
        (notifications, NotificationsSettings),
        (metrics, MetricsSettings),
    ]:
        app = create(settings_class(_env_file=None, jwt_secret=SECRET))
        linked += [path for path in route_paths(app.routes) if "{token}" in path]
    assert len(linked) >= 6, linked  # registrations, invitations, survey, unsubscribe, reports
    for path in linked:
        args = ("10.1.2.3:5555", "GET", path.replace("{token}", token) + "?lang=en", "1.1", 200)
        record = logging.LogRecord(
            "uvicorn.access", logging.INFO, __file__, 1, "%s %s %s %s %d", args, None
        )
        _PrivateAccessLog().filter(record)
        assert token not in record.getMessage(), path
