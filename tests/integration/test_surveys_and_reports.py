"""Surveys and reports over the real broker, on SQLite and PostgreSQL: the metrics service
keeps read models of what the other services publish, takes survey answers through personal
single-use links, measures the plan's satisfaction goal from them, and reports the plan.

The case: Beskæftigelsesregion Midtjylland's conference (case E) — registrations, check-in,
a survey the day after to those who came, and the goal "70 % satisfied" (they reported 74 %).
Planning's and events' contracts are produced as a foreign producer would.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from services.metrics import surveys
from services.metrics.gauges import SatisfiedShare
from services.metrics.measures import satisfaction_overall
from services.metrics.rebuild import rebuild
from services.metrics.tables import (
    ActivityFact,
    DeliveryFact,
    EventFact,
    KpiGoal,
    KpiMeasurement,
    PlanCount,
    PlanFact,
    RegistrationFact,
    Survey,
    SurveyInvitee,
    SurveyLinkUse,
    SurveyResponse,
)
from shared import topics
from shared.contracts import events as ev
from shared.contracts.notifications import DeliveryBounced, DeliveryFailed, DeliverySent
from shared.contracts.planning import ActivityApproved, ActivityRescheduled, AudienceRef, MessageRef
from shared.db import create_engine, create_sessions
from shared.links import survey_token
from tests.helpers import (
    auth,
    eventually,
    listening,
    path_of,
    produce,
    read_topic,
    runtime_of,
)
from tests.services import Metrics, approve, envelope, goal, kpis

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")
HELD = datetime(2026, 11, 19, 8, tzinfo=UTC)
QUESTIONS = [
    {
        "kind": "rating",
        "text": "Hvor tilfreds var du med konferencen?",
        "text_en": "How satisfied were you with the conference?",
        "required": True,
        "satisfaction": True,
    },
    {
        "kind": "single_choice",
        "text": "Hvad fik du mest ud af?",
        "section": "Indhold",
        "options": [{"label": "Oplæggene"}, {"label": "Netværket"}, {"label": "Workshops"}],
    },
    {"kind": "text", "text": "Hvad kan vi gøre bedre?"},
]


def link_key(m: Metrics) -> str:
    return runtime_of(m.app).settings.link_key


def token_path(m: Metrics, target: str, person: str) -> str:
    return f"/survey/{survey_token(link_key(m), target, person)}"


async def held_conference(
    m: Metrics, plan_id: str, registered: int, came: int
) -> tuple[str, list[str]]:
    """The event of the plan, `registered` confirmed, `came` checked in and asked for the
    survey, then completed; two invitations sent. Waits until the read models have it."""
    event_id = str(uuid.uuid4())
    common = {"event_id": event_id, "plan_id": plan_id}
    people = [str(uuid.uuid4()) for _ in range(registered)]
    messages: list[ev.EventData] = [
        ev.EventPublished(
            **common,
            activity_id=None,
            title="Fremtidens arbejdsmarked i Midtjylland",
            format="conference",
            starts_at=HELD,
            ends_at=HELD + timedelta(hours=7),
            capacity=300,
            language="da",
        ),
        *(ev.RegistrationConfirmed(**common, registration_id=p) for p in people),
        *(
            ev.AttendeeCheckedIn(**common, registration_id=p, checked_in_at=HELD)
            for p in people[:came]
        ),
        *(ev.SurveyRequested(**common, registration_id=p) for p in people[:came]),
        ev.EventCompleted(**common, activity_id=None, confirmed=registered, checked_in=came),
    ]
    await produce(
        m.bootstrap,
        topics.REGISTRATIONS,
        [(event_id.encode(), envelope(d, event_id)) for d in messages],
    )
    sent = [
        DeliverySent(
            delivery_id=str(uuid.uuid4()),
            activity_id="invitation",
            plan_id=plan_id,
            contact_id=contact,
            channel="email",
            sent_at=HELD - timedelta(days=d),
        )
        for d, contact in ((30, "c-1"), (30, "c-2"), (14, "c-1"))
    ]
    await produce(
        m.bootstrap,
        topics.DELIVERIES,
        [(d.delivery_id.encode(), envelope(d, d.delivery_id)) for d in sent],
    )
    await eventually(
        lambda: report_of(m, plan_id),
        lambda r: r["events"] and r["events"][0]["status"] == "completed",
    )
    return event_id, people


async def report_of(m: Metrics, plan_id: str) -> dict:
    response = await m.client.get(f"/v1/plans/{plan_id}/report", headers=ANALYST)
    assert response.status_code == 200, response.text
    return response.json()


async def new_survey(m: Metrics, **body: object) -> dict:
    response = await m.client.post(
        "/v1/surveys", json={"title": "Evaluering", "questions": QUESTIONS, **body}, headers=ANALYST
    )
    assert response.status_code == 201, response.text
    opened = await m.client.post(f"/v1/surveys/{response.json()['id']}/open", headers=ANALYST)
    assert opened.status_code == 200, opened.text
    return opened.json()


def form(survey: dict, rating: int, choice: int | None = None, text: str = "") -> dict:
    rate, pick, free = (q["id"] for q in survey["questions"])
    data = {f"q-{rate}": str(rating), f"q-{free}": text}
    if choice is not None:
        data[f"q-{pick}"] = survey["questions"][1]["options"][choice]["id"]
    return data


async def test_a_conference_survey_measures_the_satisfaction_goal_and_the_report_shows_it(
    metrics: Metrics, browser: Browser
) -> None:
    plan_id = str(uuid.uuid4())
    satisfied = goal("Satisfaction", 70, "%")
    attendance = goal("attendees", 12, "people")
    reach = goal("Reach", 2, "contacts")
    await approve(metrics, plan_id, [satisfied, attendance, reach])
    event_id, people = await held_conference(metrics, plan_id, registered=20, came=15)
    survey = await new_survey(metrics, event_id=event_id, plan_id=plan_id, goal_id=satisfied.id)

    # ten of the fifteen who came answer, seven of them satisfied (4 or 5)
    for person, rating in zip(people[:10], [5, 4, 4, 5, 4, 4, 5, 3, 2, 1], strict=True):
        answered = await metrics.client.post(
            token_path(metrics, event_id, person), data=form(survey, rating, choice=rating % 3)
        )
        assert answered.status_code == 200, answered.text
        assert "Tak for dine svar" in answered.text
    again = await metrics.client.post(
        token_path(metrics, event_id, people[0]), data=form(survey, 1)
    )
    assert again.status_code == 409 and "allerede svaret" in again.text
    assert (
        "allerede svaret"
        in (await metrics.client.get(token_path(metrics, event_id, people[0]))).text
    )

    results = (
        await metrics.client.get(f"/v1/surveys/{survey['id']}/results", headers=ANALYST)
    ).json()
    assert (results["invited"], results["responses"]) == (15, 10)
    assert (results["response_rate"], results["satisfied_share"]) == (66.7, 70.0)
    rating = results["questions"][0]
    assert [o["count"] for o in rating["options"]] == [1, 1, 1, 4, 3] and rating["mean"] == 3.7
    expected = {
        "Satisfaction": (70.0, True),
        "attendees": (15.0, True),
        "Reach": (2.0, True),  # two contacts, one of them written to twice
    }
    await eventually(
        lambda: kpis(metrics, plan_id),
        lambda k: {g["metric"]: (g["value"], g["attained"]) for g in k["kpis"]} == expected,
    )

    report = await report_of(metrics, plan_id)
    conference = report["events"][0]
    assert conference | {"event_id": None, "starts_at": None} == {
        "event_id": None,
        "title": "Fremtidens arbejdsmarked i Midtjylland",
        "format": "conference",
        "starts_at": None,
        "status": "completed",
        "capacity": 300,
        "registrations": 20,
        "waitlisted": 0,
        "cancelled": 0,
        "checked_in": 15,
        "no_show_rate": 25.0,
        "satisfaction": 70.0,
        "survey_answers": 10,
        "survey_response_rate": 66.7,  # 10 of the 15 asked
    }
    assert report["satisfaction_scores"] == {"1": 1, "2": 1, "3": 1, "4": 4, "5": 3}
    assert [d["count"] for d in report["sent_by_day"]] == [2, 1]
    # reach over time: both contacts were first reached on the first day
    first_day = (HELD - timedelta(days=30)).date().isoformat()
    assert report["reached_by_day"] == [{"day": first_day, "count": 2}]
    assert [(g["metric"], g["attained"]) for g in report["goals"]][0] == ("Satisfaction", True)

    page = await metrics.client.get(path_of(report["page"]))
    assert page.status_code == 200
    assert page.text.count("<svg") == 4  # goals, messages per day, reach, satisfaction
    assert "Fremtidens arbejdsmarked i Midtjylland" in page.text and "70 %" in page.text
    assert "<script" not in page.text
    await read_the_report_in_a_browser(metrics, browser, path_of(report["page"]))
    forged = await metrics.client.get("/reports/plans/" + "x" * 40, headers={"Accept": "text/html"})
    assert forged.status_code == 404 and forged.headers["content-type"].startswith("text/html")
    assert "expired" in forged.text  # a page saying why, for the person who followed the link

    rows = list(
        csv.reader(
            io.StringIO(
                (
                    await metrics.client.get(f"/v1/plans/{plan_id}/report.csv", headers=ANALYST)
                ).text.lstrip("\ufeff")
            )
        )
    )
    assert rows[0][:3] == ["section", "id", "name"] and [r[0] for r in rows[1:]].count("event") == 1
    answers = await metrics.client.get(f"/v1/surveys/{survey['id']}/answers.csv", headers=ANALYST)
    table = list(csv.reader(io.StringIO(answers.text.lstrip("\ufeff"))))
    assert len(table) == 11 and "respondent" not in table[0]  # anonymous: nobody named


async def test_a_report_over_a_period_covers_its_days_and_the_goals_as_they_stood(
    metrics: Metrics,
) -> None:
    plan_id = str(uuid.uuid4())
    reach = goal("Reach", 2, "contacts")
    await approve(metrics, plan_id, [reach])
    # two contacts written to 30 days before the conference, one again 14 days before
    await held_conference(metrics, plan_id, registered=4, came=3)
    await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 2)

    async def report(**period: date) -> httpx.Response:
        params = {name: day.isoformat() for name, day in period.items()}
        url = f"/v1/plans/{plan_id}/report"
        return await metrics.client.get(url, params=params, headers=ANALYST)

    whole = (await report()).json()
    assert len(whole["sent_by_day"]) == 2 and len(whole["events"]) == 1
    assert (whole["period_start"], whole["period_end"]) == (None, None)

    start, end = (HELD - timedelta(days=40)).date(), (HELD - timedelta(days=20)).date()
    early = (await report(period_start=start, period_end=end)).json()
    assert early["sent_by_day"] == [
        {"day": (HELD - timedelta(days=30)).date().isoformat(), "count": 2}
    ]
    assert early["events"] == []
    assert early["goals"][0]["value"] is None  # measured after the period, not in it
    assert (early["period_start"], early["period_end"]) == (start.isoformat(), end.isoformat())

    late = (await report(period_start=end)).json()  # open-ended: from its first day on
    assert [d["count"] for d in late["sent_by_day"]] == [1] and len(late["events"]) == 1
    # in the period, the contact written to again was reached on its day
    assert late["reached_by_day"] == [
        {"day": (HELD - timedelta(days=14)).date().isoformat(), "count": 1}
    ]
    assert late["goals"][0]["value"] == 2

    page = await metrics.client.get(path_of(early["page"]))  # the link keeps the period
    assert f"Periode: {start.isoformat()} – {end.isoformat()}" in page.text
    assert "Fremtidens arbejdsmarked" not in page.text  # the event is after the period
    assert f"period_start={start.isoformat()}" in page.text  # the language switch keeps it

    backwards = await report(period_start=end, period_end=start)
    assert backwards.status_code == 422 and "period_end" in backwards.text
    too_early = await report(period_start=date(1800, 1, 1))
    assert too_early.status_code == 422


async def test_a_report_shows_the_plans_activities_by_audience(metrics: Metrics) -> None:
    """Tendens to the job centres in two issues (a reader of both reached once, one copy
    bounced), and the conference for the employers' organisations: each audience's sent,
    reach, registrations and check-ins, in the JSON, the CSV and the page."""
    plan_id = str(uuid.uuid4())
    await approve(metrics, plan_id, [goal("reach", 3, "contacts")])
    centres = AudienceRef(id="job-centres", name="Jobcentre i Midtjylland")
    employers = AudienceRef(id="employers", name="Arbejdsgiverorganisationer")
    message = MessageRef(id="m", subject="Tendens", body="Nyt fra regionen.")
    issues = [
        ActivityApproved(
            activity_id=str(uuid.uuid4()),
            plan_id=plan_id,
            title=f"Tendens nr. {n}",
            kind="communication",
            channel="newsletter",
            starts_at=HELD - timedelta(days=30 - n),
            audience=centres,
            message=message,
        )
        for n in (5, 6)
    ]
    conference = ActivityApproved(
        **issues[0].model_dump(exclude={"activity_id", "title", "kind", "channel", "audience"}),
        activity_id=str(uuid.uuid4()),
        title="Konference om fremtidens arbejdsmarked",
        kind="event",
        channel="conference",
        audience=employers,
    )
    sent = [
        DeliverySent(
            delivery_id=str(uuid.uuid4()),
            activity_id=issue.activity_id,
            plan_id=plan_id,
            contact_id=reader,
            channel="newsletter",
            sent_at=issue.starts_at,
        )
        for issue, readers in zip(
            issues, [["aarhus", "herning"], ["aarhus", "viborg"]], strict=True
        )
        for reader in readers
    ]
    # Viborg's copy of issue 6 comes back for good: Viborg was not reached
    returned = DeliveryBounced(
        **sent[-1].model_dump(exclude={"sent_at"}), bounced_at=issues[1].starts_at
    )
    event_id = str(uuid.uuid4())
    common = {"event_id": event_id, "plan_id": plan_id}
    people = [str(uuid.uuid4()) for _ in range(3)]
    at_the_event: list[ev.EventData] = [
        ev.EventPublished(
            **common,
            activity_id=conference.activity_id,
            title=conference.title,
            format="conference",
            starts_at=HELD,
            ends_at=HELD + timedelta(hours=7),
            capacity=300,
            language="da",
        ),
        *(ev.RegistrationConfirmed(**common, registration_id=p) for p in people),
        ev.AttendeeCheckedIn(**common, registration_id=people[0], checked_in_at=HELD),
    ]
    for topic, messages in (
        (topics.ACTIVITIES, [(a.activity_id, a) for a in [*issues, conference]]),
        (topics.DELIVERIES, [(d.delivery_id, d) for d in [*sent, returned]]),
        (topics.REGISTRATIONS, [(event_id, d) for d in at_the_event]),
    ):
        await produce(
            metrics.bootstrap, topic, [(key.encode(), envelope(d, key)) for key, d in messages]
        )
    report = await eventually(
        lambda: report_of(metrics, plan_id),
        lambda r: (
            sum(a["sent"] for a in r["activities"]) == 3
            and sum(a["bounced"] for a in r["activities"]) == 1
            and r["audiences"]
            and r["audiences"][0]["checked_in"] == 1
        ),
    )
    page = await metrics.client.get(path_of(report["page"]), params={"lang": "en"})
    csv_report = await metrics.client.get(f"/v1/plans/{plan_id}/report.csv", headers=ANALYST)
    assert report["audiences"] == [
        {
            "audience_id": "employers",
            "name": "Arbejdsgiverorganisationer",
            "activities": 1,
            "sent": 0,
            "failed": 0,
            "bounced": 0,
            "reach": 0,
            "registrations": 3,
            "checked_in": 1,
        },
        {
            "audience_id": "job-centres",
            "name": "Jobcentre i Midtjylland",
            "activities": 2,
            "sent": 3,
            "failed": 0,
            "bounced": 1,
            "reach": 2,  # Aarhus read both issues: reached once; Viborg's came back
            "registrations": 0,
            "checked_in": 0,
        },
    ]
    rows = list(csv.reader(io.StringIO(csv_report.text.lstrip("\ufeff"))))
    assert [r[:3] + r[6:10] for r in rows if r[0] == "audience"] == [
        ["audience", "employers", "Arbejdsgiverorganisationer", "0", "0", "3", "1"],
        ["audience", "job-centres", "Jobcentre i Midtjylland", "3", "2", "0", "0"],
    ]
    assert "<h2>Audiences</h2>" in page.text and "Jobcentre i Midtjylland" in page.text


async def test_the_satisfied_share_gauge_recounts_what_changed_and_agrees_with_a_full_count(
    metrics: Metrics,
) -> None:
    survey = await new_survey(metrics)  # anonymous: counts from the fifth answer
    links = await metrics.client.post(
        f"/v1/surveys/{survey['id']}/links",
        json={"references": [f"p-{i}" for i in range(6)]},
        headers=ANALYST,
    )
    paths = [path_of(link["link"]) for link in links.json()]
    gauge = SatisfiedShare()

    async def both() -> tuple[float | None, float | None]:
        async with runtime_of(metrics.app).sessions() as session:
            return await gauge.refresh(session), await satisfaction_overall(session, select(Survey))

    for path, rating in zip(paths[:5], [5, 4, 2, 5, 1], strict=True):
        assert (await metrics.client.post(path, data=form(survey, rating))).status_code == 200
    first, full = await both()
    assert first == full
    assert (await metrics.client.post(paths[5], data=form(survey, 4))).status_code == 200
    second, full = await both()
    assert second == full and second != first  # the survey's sixth answer is counted


async def read_the_report_in_a_browser(metrics: Metrics, browser: Browser, path: str) -> None:
    """The shared report, as a communication team reads it: Danish first, then English; its
    tables named by their headers, its charts drawn without JavaScript."""
    async with listening(metrics.app, lifespan=False) as base_url:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(base_url + path)
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        await expect(page.get_by_role("heading", name="Mål", exact=True)).to_be_visible()
        goals = page.get_by_role("table").first
        satisfied = goals.get_by_role("row", name=re.compile("^Satisfaction"))
        await expect(satisfied).to_contain_text("nået")
        await expect(page.get_by_role("columnheader", name="Tjekket ind")).to_be_visible()
        await expect(page.get_by_role("columnheader", name="Svarprocent")).to_be_visible()
        conference = page.get_by_role("row", name=re.compile("^Fremtidens arbejdsmarked"))
        await expect(conference).to_contain_text("66,7 %")  # answered, of those asked
        await expect(page.get_by_text("Tilfredshed: svar pr. karakter")).to_be_visible()
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(satisfied).to_contain_text("attained")
        await expect(page.get_by_role("columnheader", name="Checked in")).to_be_visible()
        await context.close()


async def test_bad_survey_input_is_refused_and_changes_nothing(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    counted = goal("registrations", 10, "people")
    await approve(metrics, plan_id, [counted])

    async def post(body: dict) -> httpx.Response:
        return await metrics.client.post(
            "/v1/surveys", json={"title": "T", **body}, headers=ANALYST
        )

    one_option = [{"kind": "single_choice", "text": "?", "options": [{"label": "a"}]}]
    assert (await post({"questions": one_option})).status_code == 422
    two = [{**QUESTIONS[0]}, {**QUESTIONS[0]}]
    assert (await post({"questions": two})).status_code == 422  # two satisfaction questions
    wrong_goal = await post({"questions": QUESTIONS, "plan_id": plan_id, "goal_id": counted.id})
    assert wrong_goal.status_code == 422 and "satisfaction" in wrong_goal.text
    unknown = await post({"questions": QUESTIONS, "plan_id": plan_id, "goal_id": "nope"})
    assert unknown.status_code == 404
    forbidden = await metrics.client.post(
        "/v1/surveys", json={"title": "T", "questions": QUESTIONS}, headers=auth("communicator")
    )
    assert forbidden.status_code == 403
    listed = await metrics.client.get("/v1/surveys", params={"plan_id": plan_id}, headers=ANALYST)
    assert listed.json()["total"] == 0

    survey = await new_survey(metrics)
    again = await metrics.client.post(f"/v1/surveys/{survey['id']}/open", headers=ANALYST)
    assert again.status_code == 409
    # open: questions may be renamed, not added or changed in kind
    renamed = [dict(q) for q in survey["questions"]]
    renamed[1] = {
        **renamed[1],
        "options": [{**o, "label": o["label"].upper()} for o in renamed[1]["options"]],
    }
    for q in renamed:
        for empty in [k for k, v in q.items() if v is None]:
            del q[empty]
    url = f"/v1/surveys/{survey['id']}/questions"
    ok = await metrics.client.put(url, json={"questions": renamed}, headers=ANALYST)
    assert ok.status_code == 200, ok.text
    assert (
        ok.json()["questions"][1]["options"][0]["id"] == survey["questions"][1]["options"][0]["id"]
    )
    added = await metrics.client.put(
        url, json={"questions": [*renamed, {"kind": "text", "text": "Mere?"}]}, headers=ANALYST
    )
    assert added.status_code == 409

    # a personal link issued for the survey: a bad answer is a 422 page tied to the question
    links = await metrics.client.post(
        f"/v1/surveys/{survey['id']}/links",
        json={"references": ["k-1", "k-2", "k-1"]},
        headers=ANALYST,
    )
    assert [link["reference"] for link in links.json()] == ["k-1", "k-2"]
    path = path_of(links.json()[0]["link"])
    bad = await metrics.client.post(path, data={f"q-{survey['questions'][0]['id']}": "9"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert (
        await metrics.client.post(path, data=form(survey, 5, text="<script>x</script>"))
    ).status_code == 200
    results = (
        await metrics.client.get(f"/v1/surveys/{survey['id']}/results", headers=ANALYST)
    ).json()
    assert (results["invited"], results["responses"]) == (2, 1)
    # anonymous, one answer: nothing to break down, nothing to export
    assert all(q["hidden"] for q in results["questions"]) and results["satisfied_share"] is None
    export = await metrics.client.get(f"/v1/surveys/{survey['id']}/answers.csv", headers=ANALYST)
    assert export.status_code == 409

    assert (await metrics.client.get("/survey/not-a-token")).status_code == 404
    closed = await metrics.client.post(f"/v1/surveys/{survey['id']}/close", headers=ANALYST)
    assert closed.json()["status"] == "closed"
    late = await metrics.client.post(path_of(links.json()[1]["link"]), data=form(survey, 5))
    assert late.status_code == 409 and "ikke åben" in late.text
    # opening and closing are told to the notifications service, which sends the e-mails
    told = await read_topic(metrics.bootstrap, topics.SURVEYS, at_least=2)
    about = [e for r in told if (e := json.loads(r.value))["data"]["survey_id"] == survey["id"]]
    assert [e["type"] for e in about] == ["survey.opened.v1", "survey.closed.v1"]


async def test_at_start_metrics_says_again_which_event_surveys_are_open(metrics: Metrics) -> None:
    """A subscriber that missed survey.opened.v1 (started after it, restored from a backup)
    would hold the event's survey e-mails for good: so each start says it again."""
    still_open = await new_survey(metrics, event_id=str(uuid.uuid4()))
    ended = await new_survey(metrics, event_id=str(uuid.uuid4()))
    await metrics.client.post(f"/v1/surveys/{ended['id']}/close", headers=ANALYST)
    of_activity = await new_survey(metrics, activity_id=str(uuid.uuid4()))

    # the worker each start runs once (this service's own start may run it too, late)
    await surveys.announce_open(runtime_of(metrics.app))
    told = await read_topic(metrics.bootstrap, topics.SURVEYS, at_least=5)
    opened = [
        e["data"]["survey_id"]
        for r in told
        if (e := json.loads(r.value))["type"] == "survey.opened.v1"
    ]
    assert opened.count(still_open["id"]) >= 2
    assert [opened.count(s["id"]) for s in (ended, of_activity)] == [1, 1]


async def test_a_survey_closes_when_its_close_time_comes(metrics: Metrics) -> None:
    """Its status says closed, subscribers hear survey.closed.v1 (notifications cancels the
    survey e-mails still waiting), and the event may have another survey opened."""
    event_id = str(uuid.uuid4())
    closes_at = datetime.now(UTC) + timedelta(seconds=2)
    survey = await new_survey(metrics, event_id=event_id, closes_at=closes_at.isoformat())
    assert survey["status"] == "open"
    closed = await eventually(
        lambda: metrics.client.get(f"/v1/surveys/{survey['id']}", headers=ANALYST),
        lambda r: r.json()["status"] == "closed",
    )

    async def closings() -> list[str]:
        told = await read_topic(metrics.bootstrap, topics.SURVEYS, at_least=1)
        events = [json.loads(r.value) for r in told]
        return [e["data"]["survey_id"] for e in events if e["type"] == "survey.closed.v1"]

    closed_ones = await eventually(closings, lambda ids: survey["id"] in ids)
    successor = await new_survey(metrics, event_id=event_id)
    assert datetime.now(UTC) >= closes_at and closed.json()["version"] == survey["version"] + 1
    assert closed_ones.count(survey["id"]) == 1
    assert successor["status"] == "open"


async def test_a_person_answers_a_survey_in_a_browser_without_javascript(
    metrics: Metrics, browser: Browser
) -> None:
    survey = await new_survey(metrics, anonymous=False)
    links = await metrics.client.post(
        f"/v1/surveys/{survey['id']}/links", json={"references": ["anne"]}, headers=ANALYST
    )
    path = path_of(links.json()[0]["link"])
    async with listening(metrics.app, lifespan=False) as base_url:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(base_url + path)
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        await page.get_by_role("button", name="Send svar").click()
        await expect(page.get_by_role("alert")).to_contain_text("Ret venligst")
        rating = page.get_by_role("group", name=re.compile("Hvor tilfreds"))
        await expect(rating).to_have_accessible_description(re.compile("Besvar spørgsmålet"))
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await (
            page.get_by_role("group", name=re.compile("How satisfied"))
            .get_by_role("radio", name="4", exact=True)
            .check()
        )
        await page.get_by_label("Netværket").check()
        await page.get_by_label("Hvad kan vi gøre bedre?").fill("Længere pauser")
        await page.get_by_role("button", name="Send answers").click()
        await expect(page.get_by_role("status")).to_contain_text("Thank you")
        await page.goto(base_url + path)
        await expect(page.get_by_text("allerede svaret")).to_be_visible()
        await context.close()
    export = await metrics.client.get(f"/v1/surveys/{survey['id']}/answers.csv", headers=ANALYST)
    (head, row) = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert head[:3] == ["submitted_on", "language", "respondent"]  # not anonymous: who, hashed
    assert row[1] == "en" and len(row[2]) == 64 and row[3:] == ["4", "Netværket", "Længere pauser"]


READ_MODELS = [  # from the stream
    PlanCount,
    PlanFact,
    KpiGoal,
    ActivityFact,
    EventFact,
    RegistrationFact,
    DeliveryFact,
    SurveyInvitee,  # the API's links too: copied
]


async def rows_of(sessions, table) -> list[tuple]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        key = list(table.__table__.primary_key.columns)
        found = await session.execute(select(table.__table__).order_by(*key))
        return [tuple(row) for row in found]


async def test_the_read_models_rebuilt_from_the_stream_equal_the_live_ones(
    metrics: Metrics, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Replayed into an empty database (its own consumer group, nothing published), the
    stream gives the same read models the live service keeps — also after moves,
    cancellations and a failed delivery resent — and what the stream does not hold (surveys,
    their links and answers, the measurements) is copied from the live database."""
    plan_id = str(uuid.uuid4())
    await approve(metrics, plan_id, [goal("reach", 1, "contacts")])
    event_id, people = await held_conference(metrics, plan_id, registered=4, came=2)
    activity = ActivityApproved(
        activity_id=str(uuid.uuid4()),
        plan_id=plan_id,
        title="Tendens nr. 6",
        kind="communication",
        channel="newsletter",
        starts_at=HELD,
        audience=AudienceRef(id="job-centres", name="Jobcentre i Midtjylland"),
        message=MessageRef(id="m", subject="Tendens", body="Nyt fra regionen."),
    )
    moved = ActivityRescheduled(
        **activity.model_dump(include={"activity_id", "plan_id", "title", "kind"}),
        previous_starts_at=HELD,
        starts_at=HELD + timedelta(days=7),
        reason="Nyt tal",
    )
    failed = DeliveryFailed(
        delivery_id="d-resent",
        activity_id=activity.activity_id,
        plan_id=plan_id,
        contact_id="c-9",
        channel="newsletter",
        attempts=3,
        reason="mailbox full",
    )
    resent = DeliverySent(**failed.model_dump(exclude={"attempts", "reason"}), sent_at=HELD)
    cancelled = ev.RegistrationCancelled(
        event_id=event_id, plan_id=plan_id, registration_id=people[-1], previous_status="confirmed"
    )
    for topic, key, data in [
        (topics.ACTIVITIES, activity.activity_id, activity),
        (topics.ACTIVITIES, activity.activity_id, moved),
        (topics.DELIVERIES, failed.delivery_id, failed),
        (topics.DELIVERIES, failed.delivery_id, resent),
        (topics.REGISTRATIONS, event_id, cancelled),
    ]:
        await produce(metrics.bootstrap, topic, [(key.encode(), envelope(data, key))])
    live = runtime_of(metrics.app)
    await eventually(
        lambda: report_of(metrics, plan_id),
        lambda r: (
            r["events"][0]["cancelled"] == 1
            and any(
                a["sent"] == 1 and a["starts_at"].startswith("2026-11-26") for a in r["activities"]
            )
        ),
    )

    settings = live.settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/rebuilt.db"}
    )
    progress: list[str] = []
    replayed = await rebuild(
        settings, copy_from_url=live.settings.database_url, report=progress.append, timeout=120
    )
    assert replayed > 0 and progress[-1].endswith("(100 %)")

    rebuilt = create_sessions(create_engine(settings.database_url))
    for table in [*READ_MODELS, Survey, SurveyLinkUse]:
        assert await rows_of(rebuilt, table) == await rows_of(live.sessions, table), table
    # in the order they came, each but its place (the new database numbers them anew)
    answers = await rows_of(live.sessions, SurveyResponse)
    assert [r[1:] for r in await rows_of(rebuilt, SurveyResponse)] == [r[1:] for r in answers]
    assert answers, "no answers to copy: the test would prove nothing"
    # the measurements copied are what had been measured (the live service may measure on)
    measured = [r[1:] for r in await rows_of(rebuilt, KpiMeasurement)]
    assert (
        measured
        and measured
        == [r[1:] for r in await rows_of(live.sessions, KpiMeasurement)][: len(measured)]
    )
    with pytest.raises(SystemExit, match="not empty"):
        await rebuild(settings, report=progress.append)


async def test_an_anonymous_surveys_export_does_not_follow_the_order_of_its_answers(
    metrics: Metrics,
) -> None:
    """The same answers, given in two orders, export alike: the order in which they came in,
    beside anything that saw who answered when, would say who gave which answer."""
    exported = []
    for ratings in ([5, 1, 4, 2, 3, 5], [3, 5, 2, 5, 4, 1]):
        survey = await new_survey(metrics)
        links = await metrics.client.post(
            f"/v1/surveys/{survey['id']}/links",
            json={"references": [f"p-{i}" for i in range(6)]},
            headers=ANALYST,
        )
        for link, rating in zip(links.json(), ratings, strict=True):
            answered = await metrics.client.post(path_of(link["link"]), data=form(survey, rating))
            assert answered.status_code == 200, answered.text
        csv_file = await metrics.client.get(
            f"/v1/surveys/{survey['id']}/answers.csv", headers=ANALYST
        )
        exported.append(list(csv.reader(io.StringIO(csv_file.text.lstrip("\ufeff"))))[1:])
    assert len(exported[0]) == 6
    assert exported[0] == exported[1]
