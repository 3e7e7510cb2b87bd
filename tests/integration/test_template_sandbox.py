"""A template is the author's code run by the service: an analyst may preview one and a
communicator save one, and neither may change what others see or stall the service.

A hostile probe once emptied the sample data every preview renders (`message.clear()`), so
that every later preview and template save failed until a restart, and held the event loop
(and `/healthz`) for two seconds with three nested loops, a wide `center` or a chain of
multiplications. Each probe is refused with a 422 problem at once now, over real HTTP, with
`/healthz` answering throughout."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import httpx
import pytest
from jinja2.exceptions import SecurityError

from services.notifications import templates
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from tests.api import UNREACHABLE_BROKER, assert_problem
from tests.helpers import auth, healthz_watched, listening, settings_for

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")
COMMUNICATOR = auth("communicator")
QUICKLY = 0.5  # seconds a refused template may take to answer, on a shared 2-core machine

MUTATING = "{{ contact.update(name=1) }}{{ message.clear() }}"
NESTED_LOOPS = (
    '{% for a in "x"*200 %}{% for b in "x"*200 %}{% for c in "x"*200 %}.'
    "{% endfor %}{% endfor %}{% endfor %}"
)
DEEPER_LOOPS = NESTED_LOOPS.replace("200", "1000")
WIDE_CENTER = '{{ "x"|center(50000000) }}'
CHAINED_MULTIPLICATION = '{{ ("x"*1000*1000*30)|length }}'
STALLING = {
    "nested loops": NESTED_LOOPS,
    "deeper loops": DEEPER_LOOPS,
    "wide center": WIDE_CENTER,
    "chained multiplication": CHAINED_MULTIPLICATION,
    # the same, by other ways in
    "doubling": '{% set ns = namespace(s="x") %}{% for i in range(26) %}'
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "padding method": '{{ "x".ljust(50000000)|length }}',
    "format width": '{{ "{:>50000000}".format(1)|length }}',
    "percent width": '{{ ("%50000000s" % 1)|length }}',
    "repeated literal": "{% set s %}{% for i in range(100000) %}" + "y" * 1000 + "{% endfor %}"
    "{% endset %}{{ s|length }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(22) }}",
    # one call, quadratic in the distinct characters: 5,000 took 3.5 s (found by a probe)
    "punycode": '{{ "' + "".join(chr(0x4E00 + i) for i in range(5000)) + '".encode("punycode") }}',
    "decoding": '{{ (1).to_bytes(1000, "big").decode("punycode") }}',
}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[str]:
    settings = settings_for(
        NotificationsSettings, f"sqlite+aiosqlite:///{tmp_path}/n.db", UNREACHABLE_BROKER
    )
    async with listening(create_app(settings)) as url:
        yield url


def assert_answered_promptly(waits: list[float]) -> None:
    ordered = sorted(waits)
    longest = ordered[-1]
    summary = (
        f"{len(waits)} asked, median {statistics.median(waits) * 1000:.0f} ms, "
        f"longest {longest * 1000:.0f} ms"
    )
    assert len(waits) >= 10, summary
    assert longest < 0.3, summary


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def preview(client: httpx.AsyncClient, text: str, subject: str = "s") -> httpx.Response:
    return await client.post(
        "/v1/templates/preview", json={"subject": subject, "text": text}, headers=ANALYST
    )


async def test_a_preview_cannot_change_the_sample_data_others_preview_with(service: str) -> None:
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        mutating = await preview(client, MUTATING)
        after = await preview(client, "hi {{ contact.name }}", subject="{{ message.subject }}")
        saved = await client.put(
            "/v1/templates/tendens/da",
            json={"subject": "{{ message.subject }}", "text": "Kære {{ contact.name }}"},
            headers=COMMUNICATOR,
        )
        mutating_html = await client.post(
            "/v1/templates/preview",
            json={"subject": "s", "text": "t", "html": "{{ message.update(subject=1) }}"},
            headers=ANALYST,
        )
        again = await preview(client, "{{ message.subject }}: {{ message.body }}")
    problem = assert_problem(mutating, 422)
    assert "unsafe" in problem["detail"], problem
    assert_problem(mutating_html, 422)
    assert after.status_code == 200, after.text
    assert after.json() == {
        "subject": "Tendens: ledigheden falder",
        "text": "hi Mette Jensen",
        "html": None,
    }
    assert saved.status_code == 200, saved.text
    assert again.json()["text"] == (
        "Tendens: ledigheden falder: Ledigheden i Midtjylland er faldet for tredje kvartal i træk."
    )


@pytest.mark.parametrize("probe", list(STALLING))
async def test_a_template_that_would_stall_the_service_is_refused_at_once(
    service: str, probe: str
) -> None:
    async with httpx.AsyncClient(base_url=service, timeout=120) as client:
        await preview(client, "warm {{ contact.name }}")  # the first request of a kind
        async with healthz_watched(service) as waits:
            previewed, preview_took = await timed(preview(client, STALLING[probe]))
            saved, save_took = await timed(
                client.put(
                    "/v1/templates/probe/da",
                    json={"subject": "s", "text": STALLING[probe]},
                    headers=COMMUNICATOR,
                )
            )
            await asyncio.sleep(0.2)  # /healthz asked a few more times
        normal = await preview(client, "hi {{ contact.name }}")
    for response in (previewed, saved):
        problem = assert_problem(response, 422)
        assert problem["detail"].startswith("the template cannot be rendered"), problem
    assert preview_took < QUICKLY and save_took < QUICKLY, (preview_took, save_took)
    assert_answered_promptly(waits)
    assert normal.json()["text"] == "hi Mette Jensen"


async def test_templates_within_the_bounds_still_render(service: str) -> None:
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:
        rendered = await preview(
            client,
            '{{ "-"*20 }}|{{ "ab"|center(6) }}|{{ "%05d"|format(42) }}|{{ "{:>4}".format(7) }}|'
            "{% for a in range(3) %}{% for b in 'xy' %}{{ a }}{{ b }}{% endfor %}{% endfor %}|"
            "{{ contact.name ~ '!' }}|{{ [1, 2] + [3] }}|{{ 6 * 7 }}|"
            "{{ message.body|wordwrap(30)|length > 0 }}|{{ contact.name|replace('e', 'E') }}|"
            "{{ ['a', 'b']|join(', ') }}|{{ 'x,y'.split(',')|join(';') }}",
        )
        under_the_limit = await preview(client, '{{ ("x"*1000*100)|length }}')
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["text"] == (
        "--------------------|  ab  |00042|   7|0x0y1x1y2x2y|Mette Jensen!|[1, 2, 3]|42|"
        "True|MEttE JEnsEn|a, b|x;y"
    )
    assert under_the_limit.json()["text"] == "100000"


def test_a_saved_template_cannot_stall_a_send_either() -> None:
    """Sends render with the same environment (sender.build_message): a template saved before
    the bounds existed fails its deliveries at once instead of holding the event loop."""
    values = {
        "contact": {"name": "Anne", "language": "da"},
        "message": {"subject": "Tendens", "body": "Ledigheden falder."},
        "unsubscribe_url": "https://budskab.example.org/unsubscribe/x",
    }
    for probe, text in STALLING.items():
        started = time.perf_counter()
        with pytest.raises(SecurityError):
            templates.render(templates.Template("{{ message.subject }}", text), values)
        assert time.perf_counter() - started < QUICKLY, probe
    normal = templates.render(
        templates.Template("Nyt: {{ message.subject }}", "Kære {{ contact.name }}\n"), values
    )
    assert (normal.subject, normal.text) == ("Nyt: Tendens", "Kære Anne\n")
