"""A year of a strategy as a page for people — management, the political committee — behind
the link `GET /v1/strategies/{id}/report` gives (it expires): server-rendered, in Danish or
English (`?lang=`), its charts drawn as SVG, printable to PDF from the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.planning.settings import Settings
from services.planning.strategies import report
from services.planning.strategies.routes import ReportYear
from shared.charts import number
from shared.http import UnitOfWorkDep
from shared.web import SHARED_TEMPLATES, language_context, page_language

router = APIRouter(include_in_schema=False)  # pages for people; the API is under /v1
templates = Jinja2Templates(directory=[Path(__file__).parent / "templates", SHARED_TEMPLATES])
templates.env.filters["number"] = number


@router.get("/reports/strategies/{token}", response_class=HTMLResponse)
async def strategy_report_page(
    request: Request, token: str, uow: UnitOfWorkDep, settings: Settings, year: ReportYear = None
) -> HTMLResponse:
    strategy_id = report.strategy_of_link(settings, token)
    async with uow:
        found = await report.strategy_report(uow.session, strategy_id, year, uow.now())
    page = language_context(TEXT, page_language(request))
    return templates.TemplateResponse(
        request,
        "strategy_report.html",
        {**page, "report": found, "charts": report.charts(found, page["t"])},
    )


TEXT: dict[str, dict[str, str]] = {
    "da": {
        "title": "{name}: året {year}",
        "report": "Strategirapport",
        "period": "Strategiperiode {start} – {end}. Handleplan for året: version {version}.",
        "no_action_plan": "Strategiperiode {start} – {end}. Ingen handleplan for året.",
        "summary": "Året i tal",
        "plans": "Planer",
        "plans_value": "{approved} af {total} godkendt og gennemført",
        "goals": "Mål",
        "goals_value": "{attained} nået, {behind} under målet, {unmeasured} ikke målt",
        "activities": "Aktiviteter",
        "activities_value": "{total}, heraf {cancelled} aflyst",
        "without_plans": "Spor uden en plan i året",
        "target": "Målværdi",
        "measured": "Målt",
        "attained": "nået",
        "behind": "under målet",
        "unmeasured": "ikke målt endnu",
        "goals_chart": "Målene: målt i procent af målværdien (tallene står i tabellerne nedenfor)",
        "goals_chart_title": "Målt, i procent af målværdien",
        "areas_chart": "Målenes status pr. fokusområde",
        "areas_chart_title": "Mål pr. fokusområde",
        "by_node": "Fokusområde for fokusområde",
        "initiatives": "Årets initiativer",
        "no_plans": "Ingen planer i året.",
        "plan_heading": "Plan: {title} ({status}), {start} – {end}",
        "goals_of": "Mål for {title}",
        "activities_of": "Aktiviteter i {title}",
        "goal": "Mål",
        "state": "Status",
        "activity": "Aktivitet",
        "when": "Hvornår",
        "sent": "Sendt",
        "registered": "Tilmeldt",
        "checked_in": "Tjekket ind",
        "cancelled": "aflyst",
        "status_draft": "kladde",
        "status_in_review": "til godkendelse",
        "status_approved": "godkendt",
        "status_active": "i gang",
        "status_closed": "afsluttet",
        "other_language": "English",
    },
    "en": {
        "title": "{name}: the year {year}",
        "report": "Strategy report",
        "period": "Strategy period {start} – {end}. Action plan for the year: version {version}.",
        "no_action_plan": "Strategy period {start} – {end}. No action plan for the year.",
        "summary": "The year in figures",
        "plans": "Plans",
        "plans_value": "{approved} of {total} approved and carried out",
        "goals": "Goals",
        "goals_value": "{attained} attained, {behind} below target, {unmeasured} not measured",
        "activities": "Activities",
        "activities_value": "{total}, {cancelled} of them cancelled",
        "without_plans": "Tracks without a plan in the year",
        "target": "Target",
        "measured": "Measured",
        "attained": "attained",
        "behind": "below target",
        "unmeasured": "not measured yet",
        "goals_chart": "Goals: measured as per cent of target (the tables below have the figures)",
        "goals_chart_title": "Measured, per cent of target",
        "areas_chart": "The goals' state per focus area",
        "areas_chart_title": "Goals per focus area",
        "by_node": "Focus area by focus area",
        "initiatives": "The year's initiatives",
        "no_plans": "No plans in the year.",
        "plan_heading": "Plan: {title} ({status}), {start} – {end}",
        "goals_of": "Goals of {title}",
        "activities_of": "Activities of {title}",
        "goal": "Goal",
        "state": "State",
        "activity": "Activity",
        "when": "When",
        "sent": "Sent",
        "registered": "Registered",
        "checked_in": "Checked in",
        "cancelled": "cancelled",
        "status_draft": "draft",
        "status_in_review": "in review",
        "status_approved": "approved",
        "status_active": "active",
        "status_closed": "closed",
        "other_language": "Dansk",
    },
}
