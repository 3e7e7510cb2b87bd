"""`make demo`: load Aarhus Kommune's "Kommune forfra" case (DOMAIN.md, case A) into a
running stack through the public API, approve it, and show what the services made of it;
then Silkeborg Kommune's strategy tree with two yearly action plans (case C)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from scripts.demo_data import (
    ACTION_PLAN_2013,
    ACTION_PLAN_2014,
    ACTIVITIES,
    ACTIVITY_DETAILS,
    AUDIENCES,
    CHANNELS,
    CONFERENCE_GOALS,
    CONFERENCE_PLAN,
    CONFERENCE_RATINGS,
    CONFERENCE_SURVEY_QUESTIONS,
    EMPLOYMENT_CONFERENCE,
    GOALS,
    INNOVATION_DAY_PROGRAMME,
    JOB_CENTRES,
    MESSAGES,
    PARTNERS,
    PLAN,
    ROUND_TABLE,
    SILKEBORG,
    SILKEBORG_PLAN,
    SILKEBORG_TRACK,
    STAFF_CONTACTS,
    TENDENS_GOAL,
    TENDENS_MESSAGE,
    TENDENS_PLAN,
    action_plan,
    tendens_readers,
)
from scripts.devstack import PORTS, jwt_secret
from services.events.links import Links
from shared.auth import DEV_AUDIENCE, DEV_ISSUER, issue_token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    url = {name: f"http://{args.host}:{port}/v1" for name, port in PORTS.items()}
    token = issue_token(
        jwt_secret(),
        subject="demo-admin",
        roles=["admin"],
        name="Demo",
        issuer=DEV_ISSUER,
        audience=DEV_AUDIENCE,
    )  # as `make run` checks
    client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    try:
        client.get(url["planning"].removesuffix("/v1") + "/healthz").raise_for_status()
    except httpx.HTTPError:
        print("The stack is not running: start it with `make run` first.", file=sys.stderr)
        return 1

    def post(service: str, path: str, body: dict) -> dict:
        response = client.post(f"{url[service]}{path}", json=body)
        if response.status_code >= 400:
            raise SystemExit(f"POST {path} failed: {response.status_code} {response.text}")
        return response.json()

    plan = post("planning", "/plans", PLAN)
    pid = plan["id"]
    for goal in GOALS:
        post("planning", f"/plans/{pid}/goals", goal)
    # audiences belong to the organisation: a second demo run reaches the same people (and the
    # contacts the first run put in them)
    known = {
        a["name"]: a["id"]
        for a in client.get(f"{url['planning']}/audiences", params={"limit": 200}).json()["items"]
    }
    audience = {
        k: post(
            "planning",
            f"/plans/{pid}/audiences",
            {"audience_id": known[n]} if n in known else {"name": n, "kind": kind, "needs": d},
        )["id"]
        for k, (n, kind, d) in AUDIENCES.items()
    }
    message = {
        k: post(
            "planning",
            f"/plans/{pid}/messages",
            {"audience_id": audience[k], "subject": s, "body": b},
        )["id"]
        for k, (s, b) in MESSAGES.items()
    }
    channel = {
        k: post("planning", f"/plans/{pid}/channels", {"kind": kind, "name": n})["id"]
        for k, (kind, n) in CHANNELS.items()
    }
    partner = {
        k: post("planning", "/partners", {"name": n, "kind": kind})["id"]
        for k, (n, kind) in PARTNERS.items()
    }
    for title, kind, starts_at, aud, chan, event in ACTIVITIES:
        details = ACTIVITY_DETAILS.get(title, {})
        post(
            "planning",
            f"/plans/{pid}/activities",
            {
                "title": title,
                "kind": kind,
                "starts_at": starts_at,
                "audience_id": audience[aud],
                "message_id": message[aud],
                "channel_id": channel[chan],
                "event": event,
                "owner": details.get("owner"),
                "recurrence": details.get("recurrence"),
                "partner_ids": [partner[p] for p in details.get("partners", [])],
            },
        )
    for name, email in STAFF_CONTACTS:
        response = client.post(
            f"{url['notifications']}/contacts",
            json={
                "email": email,
                "name": name,
                "email_consent": True,
                "audience_ids": [audience["staff"]],
            },
        )
        if response.status_code not in (201, 409):  # 409: loaded by an earlier demo run
            raise SystemExit(f"contact {email}: {response.status_code} {response.text}")
    post("planning", f"/plans/{pid}/approve", {})
    print(f"Plan approved: {url['planning']}/plans/{pid}")

    for _ in range(60):
        detail = client.get(f"{url['planning']}/plans/{pid}").json()
        events = [a for a in detail["activities"] if a["kind"] == "event"]
        if all(a["event_id"] for a in events) and any(
            a["deliveries_sent"] >= len(STAFF_CONTACTS) for a in detail["activities"]
        ):
            break
        time.sleep(0.5)
    for activity in detail["activities"]:
        outcome = f"event {activity['event_id']}" if activity["event_id"] else ""
        if activity["deliveries_sent"]:
            outcome = f"{activity['deliveries_sent']} e-mails sent"
        print(f"  {activity['starts_at'][:10]}  {activity['title']:<48} {outcome}")
    # A second plan that reaches the same staff in the same weeks: planning shows the clash.
    other = post(
        "planning",
        "/plans",
        {"title": "Arbejdsmiljø 2015", "owner": "HR", "sender": "Aarhus Kommune"},
    )
    post("planning", f"/plans/{other['id']}/audiences", {"audience_id": audience["staff"]})
    note = post(
        "planning",
        f"/plans/{other['id']}/messages",
        {
            "audience_id": audience["staff"],
            "subject": "Arbejdsmiljø",
            "body": "Nyt om trivsel og arbejdsmiljø.",
        },
    )["id"]
    mail = post("planning", f"/plans/{other['id']}/channels", {"kind": "email", "name": "E-mail"})[
        "id"
    ]
    post(
        "planning",
        f"/plans/{other['id']}/activities",
        {
            "title": "Trivselsmåling: invitation",
            "kind": "communication",
            "starts_at": "2015-11-04T08:00:00+01:00",
            "audience_id": audience["staff"],
            "message_id": note,
            "channel_id": mail,
        },
    )
    for clash in client.get(f"{url['planning']}/plans/{other['id']}").json()["overlaps"]:
        print(
            f"Overlap: '{other['title']}' reaches the same audience {clash['days_apart']} days from "
            f"'{clash['other_activity_title']}' ({clash['other_plan_title']})"
        )
    counts = client.get(f"{url['metrics']}/plans/{pid}/counts").json()
    print(f"Events counted by the metrics service: {counts['counts']}")
    show_kpis(client, url, pid, post)
    load_silkeborg(client, url, post)
    load_events(client, url, post, pid)
    load_tendens(client, url, post)
    load_conference_survey(client, url, post)
    return 0


def load_tendens(client: httpx.Client, url: dict, post) -> None:  # type: ignore[no-untyped-def]
    """The region's newsletter Tendens (case E): its readers imported from a spreadsheet with
    a few broken rows (their sector kept as an attribute), six issues a year, the first sent
    now; watch the send's progress. A segment picks the job centres' readers."""
    plan = post("planning", "/plans", TENDENS_PLAN)
    post("planning", f"/plans/{plan['id']}/goals", TENDENS_GOAL)
    readers = post(
        "planning",
        f"/plans/{plan['id']}/audiences",
        {"name": "Tendens' læsere", "kind": "organisations", "needs": "Tal og tendenser."},
    )["id"]
    started = client.post(
        f"{url['notifications']}/contact-imports",
        params={"audience_id": readers, "attribute": "Sektor"},
        content=tendens_readers(),
        headers={"Content-Type": "text/csv"},
    )
    if started.status_code != 202:
        raise SystemExit(f"import: {started.status_code} {started.text}")
    done = started.json()
    while done["status"] != "completed":
        time.sleep(0.5)
        done = client.get(f"{url['notifications']}/contact-imports/{done['id']}").json()
    errors = client.get(url["notifications"].removesuffix("/v1") + done["errors_url"]).text
    print(
        f"Tendens' readers imported: {done['imported']} of {done['total_rows']} rows; "
        f"{done['rejected']} refused:"
    )
    for line in errors.splitlines()[1:]:
        print(f"  line {line}")
    centres = post(
        "notifications",
        "/segments",
        {
            "name": "Tendens' læsere på jobcentrene",
            "audience_id": readers,
            "rules": [{"attribute": "sektor", "operator": "is", "value": "jobcenter"}],
        },
    )
    print(f"Segment '{centres['name']}': {centres['contacts']} contacts")
    subject, body = TENDENS_MESSAGE
    message = post(
        "planning",
        f"/plans/{plan['id']}/messages",
        {"audience_id": readers, "subject": subject, "body": body},
    )["id"]
    channel = post(
        "planning", f"/plans/{plan['id']}/channels", {"kind": "newsletter", "name": "Tendens"}
    )
    first_issue = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    activity = post(
        "planning",
        f"/plans/{plan['id']}/activities",
        {
            "title": "Tendens",
            "kind": "communication",
            "starts_at": first_issue.isoformat(),
            "recurrence": "FREQ=MONTHLY;INTERVAL=2;COUNT=6",
            "audience_id": readers,
            "message_id": message,
            "channel_id": channel["id"],
        },
    )
    post("planning", f"/plans/{plan['id']}/approve", {})
    send = None
    for _ in range(240):
        sends = client.get(
            f"{url['notifications']}/sends", params={"activity_id": activity["id"]}
        ).json()["items"]
        send = next((s for s in sends if s["status"] in ("sending", "completed")), None)
        if send:
            print(f"  Tendens issue 1: {send['percent_done']:5.1f} % done", flush=True)
            if send["status"] == "completed":
                break
        time.sleep(0.5)
    if send:
        print(f"Tendens issue 1 sent: {send['counts']}; five more issues scheduled")


def show_kpis(client: httpx.Client, url: dict, pid: str, post) -> None:  # type: ignore[no-untyped-def]
    """Report the innovation day's attendance (a person measures it); the e-mails are counted
    by the metrics service. Planning shows both next to their targets."""
    goals = client.get(f"{url['planning']}/plans/{pid}").json()["goals"]
    attendance = next(g for g in goals if g["metric"] == "participants")
    post(
        "metrics",
        f"/plans/{pid}/goals/{attendance['id']}/measurements",
        {"value": 312, "measured_on": "2016-01-21", "note": "Counted at the door"},
    )
    for _ in range(60):
        goals = client.get(f"{url['planning']}/plans/{pid}").json()["goals"]
        if all(
            g["measured_value"] is not None for g in goals if g["metric"] != "newsletter recipients"
        ):
            break
        time.sleep(0.5)
    for goal in goals:
        measured = (
            "not measured yet"
            if goal["measured_value"] is None
            else (
                f"{goal['measured_value']:g} ({goal['measured_source']}), "
                f"{'attained' if goal['attained'] else 'below target'}"
            )
        )
        print(f"Goal {goal['metric']}: target {goal['target']:g} {goal['unit']}, {measured}")


def load_silkeborg(client: httpx.Client, url: dict, post) -> None:  # type: ignore[no-untyped-def]
    """Silkeborg's strategy tree, its 2013 action plan and the 2014 revision, and a plan on one
    of its sub-tracks."""
    strategy = post("planning", "/strategies", SILKEBORG)
    base = f"/strategies/{strategy['id']}/action-plan"
    post("planning", f"{base}/versions", action_plan(strategy, 2013, ACTION_PLAN_2013, "2013"))
    post(
        "planning",
        f"{base}/versions",
        action_plan(strategy, 2014, ACTION_PLAN_2014, "Revideret efter målingerne i 2013"),
    )
    diff = client.get(
        f"{url['planning']}{base}/diff", params={"from_version": 1, "to_version": 2}
    ).json()
    print(f"\nStrategy: {url['planning']}/strategies/{strategy['id']}")
    for area in strategy["focus_areas"]:
        print(f"  {area['name']}")
        for track in area["children"]:
            print(f"    {track['name']}: {', '.join(s['name'] for s in track['children']) or '-'}")
    print(
        "Action plan 2013 → 2014: "
        f"added {[i['initiative'] for i in diff['added']]}, "
        f"removed {[i['initiative'] for i in diff['removed']]}, "
        f"changed {[c['item']['initiative'] for c in diff['changed']]}"
    )
    track = next(
        s
        for t in strategy["focus_areas"][-1]["children"]
        for s in t["children"]
        if s["name"] == SILKEBORG_TRACK
    )
    plan = post("planning", "/plans", {**SILKEBORG_PLAN, "track_id": track["id"]})
    citizens = post(
        "planning",
        f"/plans/{plan['id']}/audiences",
        {"name": "Borgere og frivillige foreninger i Silkeborg", "kind": "citizens"},
    )
    post(
        "planning",
        f"/plans/{plan['id']}/activities",
        {
            "title": "Dialogmøde med borgere, foreninger og faglige organisationer",
            "kind": "event",
            "starts_at": "2013-10-02T19:00:00+02:00",
            "audience_id": citizens["id"],
            "event": {"format": "dialogue_meeting", "capacity": 120},
        },
    )
    on_track = client.get(f"{url['planning']}/calendar", params={"track_id": track["id"]}).json()
    print(
        f"Plan '{plan['title']}' on the track '{SILKEBORG_TRACK}': "
        f"{len(on_track)} activity in /v1/calendar?track_id={track['id']}"
    )
    report_url = f"{url['planning']}/strategies/{strategy['id']}/report"
    report = client.get(report_url, params={"year": 2013}).json()
    summary = report["summary"]
    print(
        f"2013 for the yearly revision — plans: {summary['plans']}, activities: "
        f"{summary['activities']}, tracks without a plan: {len(summary['tracks_without_plans'])}"
        f" ({report_url}?year=2013, or report.csv)"
    )
    print(f"  as a page for the committee: {report['page']}")


def load_events(client: httpx.Client, url: dict, post, pid: str) -> None:  # type: ignore[no-untyped-def]
    """Publish the plan's events (Velfærdens innovationsdag, Folkemødet, Rethink — on the
    calendar feed), and run two upcoming ones: the regional employment conference (case E,
    ~300 participants: registrations, a few checked in) and a round table that fills up,
    whose waitlist moves when someone cancels."""
    events = url["events"]
    for event in client.get(f"{events}/events", params={"plan_id": pid}).json()["items"]:
        if event["status"] == "draft":
            post("events", f"/events/{event['id']}/publish", {})
        if (
            event["title"] == "Velfærdens innovationsdag"
            and not client.get(f"{events}/events/{event['id']}/programme").json()
        ):
            start = datetime.fromisoformat(event["starts_at"])
            for offset, hours, session in INNOVATION_DAY_PROGRAMME:
                post(
                    "events",
                    f"/events/{event['id']}/sessions",
                    {
                        **session,
                        "starts_at": (start + timedelta(hours=offset)).isoformat(),
                        "ends_at": (start + timedelta(hours=offset + hours)).isoformat(),
                    },
                )
            print(f"Programme of '{event['title']}': {len(INNOVATION_DAY_PROGRAMME)} sessions")
    next_year = time.gmtime().tm_year + 1
    conference = post(
        "events",
        "/events",
        {
            **EMPLOYMENT_CONFERENCE,
            "starts_at": f"{next_year}-05-20T08:30:00+02:00",
            "ends_at": f"{next_year}-05-20T16:00:00+02:00",
        },
    )
    table = post(
        "events", "/events", {**ROUND_TABLE, "starts_at": f"{next_year}-01-20T13:00:00+01:00"}
    )
    for event in (conference, table):
        post("events", f"/events/{event['id']}/publish", {})
    people = [
        (
            f"Jobcentermedarbejder {i}",
            f"deltager{i}@jobcenter-{JOB_CENTRES[i % 7].lower()}.dk",
            f"Jobcenter {JOB_CENTRES[i % 7]}",
        )
        for i in range(1, 13)
    ]
    for person in people:
        register(events, conference, *person)
    codes = [registrant(events, r)["code"] for r in registrations(client, events, conference)[:5]]
    post(
        "events",
        f"/events/{conference['id']}/check-ins",
        {"scans": [{"code": code} for code in codes] + [{"code": codes[0]}]},  # one twice
    )
    directors = [
        (f"Kommunaldirektør {i}", f"direktoer{i}@kommune{i}.dk", f"Kommune {i}")
        for i in range(1, 24)
    ]
    for director in directors:
        register(events, table, *director)
    seats = registrations(client, events, table)
    if seats[0]["status"] == "confirmed":  # the first director cancels through their link
        PUBLIC.post(f"{events}/registrations/{LINKS.token(seats[0]['id'])}/cancel")
    for event in (conference, table):
        detail = client.get(f"{events}/events/{event['id']}").json()
        seats_now = detail["seats"]
        print(
            f"Event '{detail['title']}' ({detail['starts_at'][:10]}): "
            f"{seats_now['confirmed']} confirmed, {seats_now['held']} offered, "
            f"{seats_now['waiting']} waiting, {seats_now['free']} free of {seats_now['capacity']}"
        )
        print(f"  registration page: {events.removesuffix('/v1')}/events/{event['id']}")
    attendance = client.get(f"{events}/events/{conference['id']}/attendance.csv").text
    came = sum(1 for line in attendance.splitlines()[1:] if line.endswith(",yes"))
    print(f"  checked in at the conference so far: {came} (one code scanned twice counts once)")


# The public, without a token. The people open the personal links in their e-mails: the demo
# makes the same links, with the key `make run` signs them with.
PUBLIC = httpx.Client(timeout=10)
LINKS = Links(jwt_secret())


def register(events: str, event: dict, name: str, email: str, organisation: str) -> None:
    """Register as the registration page does; the outcome goes to the person by e-mail."""
    response = PUBLIC.post(
        f"{events}/events/{event['id']}/registrations",
        json={"name": name, "email": email, "organisation": organisation, "consent": True},
    )
    if response.status_code == 429:
        raise SystemExit("registration rate limit reached: run the demo on a fresh `make run`")
    response.raise_for_status()


def registrations(client: httpx.Client, events: str, event: dict) -> list[dict]:
    """The event's registrations in the order they came, as its organiser lists them."""
    rows: list[dict] = []
    while True:
        page = client.get(
            f"{events}/events/{event['id']}/registrations",
            params={"limit": 200, "offset": len(rows)},
        ).json()
        rows += page["items"]
        if not page["items"] or len(rows) >= page["total"]:
            return rows


def registrant(events: str, row: dict) -> dict:
    """A registration as its owner sees it through their personal link (the check-in code)."""
    return PUBLIC.get(f"{events}/registrations/{LINKS.token(row['id'])}").json()


def load_conference_survey(client: httpx.Client, url: dict, post) -> None:  # type: ignore[no-untyped-def]
    """The employment conference (case E) measured: 300 register, 282 come, 200 answer the
    survey through their personal links — 74 % satisfied against the plan's goal of 70 %; the
    plan's report shows it with charts."""
    plan = post("planning", "/plans", CONFERENCE_PLAN)
    pid = plan["id"]
    for goal in CONFERENCE_GOALS:
        post("planning", f"/plans/{pid}/goals", goal)
    centres = post(
        "planning",
        f"/plans/{pid}/audiences",
        {"name": "Jobcentre, LBR og a-kasser i Midtjylland", "kind": "organisations", "needs": ""},
    )["id"]
    message = post(
        "planning",
        f"/plans/{pid}/messages",
        {"audience_id": centres, "subject": "Tendens på arbejdsmarkedet", "body": "Kom og hør."},
    )["id"]
    channel = post(
        "planning", f"/plans/{pid}/channels", {"kind": "conference", "name": "Konference"}
    )
    next_year = time.gmtime().tm_year + 1
    post(
        "planning",
        f"/plans/{pid}/activities",
        {
            "title": "Beskæftigelseskonferencen",
            "kind": "event",
            "starts_at": f"{next_year}-06-10T08:30:00+02:00",
            "audience_id": centres,
            "message_id": message,
            "channel_id": channel["id"],
            "event": {"format": "conference", "capacity": 300, "venue": "Aarhus Kongreshus"},
        },
    )
    post("planning", f"/plans/{pid}/approve", {})
    event = goals = None
    for _ in range(60):  # the events and metrics services take the approved plan up
        found = client.get(f"{url['events']}/events", params={"plan_id": pid}).json()["items"]
        goals = client.get(f"{url['metrics']}/plans/{pid}/kpis").json()["kpis"]
        if found and goals:
            event = found[0]
            break
        time.sleep(0.5)
    if event is None or not goals:
        raise SystemExit("the conference did not reach the events and metrics services")
    post("events", f"/events/{event['id']}/publish", {})
    for i in range(300):
        register(
            url["events"],
            event,
            f"Deltager {i + 1}",
            f"konference{i + 1}@jobcenter-{JOB_CENTRES[i % 7].lower()}.dk",
            f"Jobcenter {JOB_CENTRES[i % 7]}",
        )
    came = registrations(client, url["events"], event)[:282]
    post(
        "events",
        f"/events/{event['id']}/check-ins",
        {"scans": [{"code": registrant(url["events"], r)["code"]} for r in came]},
    )
    satisfaction = next(g for g in goals if g["metric"] == "satisfaction")
    survey = post(
        "metrics",
        "/surveys",
        {
            "title": "Evaluering af Beskæftigelseskonferencen",
            "title_en": "Evaluation of the employment conference",
            "event_id": event["id"],
            "plan_id": pid,
            "goal_id": satisfaction["goal_id"],
            "questions": CONFERENCE_SURVEY_QUESTIONS,
        },
    )
    post("metrics", f"/surveys/{survey['id']}/open", {})
    links = client.post(
        f"{url['metrics']}/surveys/{survey['id']}/links",
        json={"references": [r["id"] for r in came]},
    ).json()
    rating, favourite, nps, _ = survey["questions"]
    for i, (link, score) in enumerate(zip(links, CONFERENCE_RATINGS, strict=False)):
        form = {
            f"q-{rating['id']}": str(score),
            f"q-{favourite['id']}": favourite["options"][i % 3]["id"],
            f"q-{nps['id']}": str(min(10, score * 2)),
        }
        PUBLIC.post(link["link"], data=form).raise_for_status()  # as the page's form sends it
    print(
        f"Conference '{event['title']}': 300 registered, {len(came)} checked in, "
        f"{len(CONFERENCE_RATINGS)} answered the survey"
    )
    print(f"  survey page (one of the personal links): {links[-1]['link']}")
    for _ in range(60):
        kpis = client.get(f"{url['metrics']}/plans/{pid}/kpis").json()["kpis"]
        shown = next(k for k in kpis if k["goal_id"] == satisfaction["goal_id"])
        if shown["value"] == 74:
            break
        time.sleep(0.5)
    for k in kpis:
        state = {True: "attained", False: "below target", None: "not measured yet"}[k["attained"]]
        print(f"  {k['metric']}: {k['value']} {k['unit']} (target {k['target']:g}): {state}")
    report = client.get(f"{url['metrics']}/plans/{pid}/report").json()
    print(f"  report with charts (a link to share, 30 days): {report['page']}")


if __name__ == "__main__":
    sys.exit(main())
