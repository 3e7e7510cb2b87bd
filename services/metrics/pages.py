"""The pages for people: a survey's answer page behind each personal link, and a plan's
report behind a shared link.

Server-rendered with Jinja2 (autoescaped), in Danish or English (`?lang=`), plain forms that
work without JavaScript; errors are listed at the top and tied to their questions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.metrics import questionnaire, reports, surveys
from services.metrics.settings import MetricsSettings
from services.metrics.tables import Survey
from shared.charts import number
from shared.errors import Conflict, NotFound
from shared.http import UnitOfWorkDep, get_settings
from shared.links import survey_link_parts, survey_person
from shared.time import PlanDate
from shared.web import SHARED_TEMPLATES, language_context, page_language

SettingsDep = Annotated[MetricsSettings, Depends(get_settings)]
router = APIRouter(include_in_schema=False)  # pages for people; the API is under /v1
templates = Jinja2Templates(directory=[Path(__file__).parent / "templates", SHARED_TEMPLATES])
templates.env.globals["label"] = questionnaire.label
templates.env.filters["tuple_of"] = lambda value: (value, value)
templates.env.filters["option_choice"] = lambda option, language: (
    option["id"],
    questionnaire.label(option, "label", language),
)

TEXT: dict[str, dict[str, str]] = {
    "da": {
        "submit": "Send svar",
        "required": "skal besvares",
        "errors": "Dine svar er ikke sendt. Ret venligst:",
        "err_required": "Besvar spørgsmålet.",
        "err_choice": "Vælg et af svarene.",
        "err_number": "Skriv et tal, fx 12 eller 3,5.",
        "err_too_long": "Svaret er for langt (højst 5000 tegn).",
        "yes": "Ja",
        "no": "Nej",
        "rating_low": "meget utilfreds",
        "rating_high": "meget tilfreds",
        "nps_low": "slet ikke sandsynligt",
        "nps_high": "meget sandsynligt",
        "thanks": "Tak for dine svar!",
        "anonymous": "Dine svar er anonyme: de gemmes adskilt fra, hvem der svarede.",
        "used": "Der er allerede svaret via dette link. Tak!",
        "closed": "Undersøgelsen er ikke åben for svar.",
        "not_found": "Linket er ugyldigt. Brug linket i den e-mail, du fik.",
        "other_language": "English",
    },
    "en": {
        "submit": "Send answers",
        "required": "required",
        "errors": "Your answers were not sent. Please correct:",
        "err_required": "Answer the question.",
        "err_choice": "Choose one of the answers.",
        "err_number": "Write a number, e.g. 12 or 3.5.",
        "err_too_long": "The answer is too long (5,000 characters at most).",
        "yes": "Yes",
        "no": "No",
        "rating_low": "very dissatisfied",
        "rating_high": "very satisfied",
        "nps_low": "not at all likely",
        "nps_high": "extremely likely",
        "thanks": "Thank you for your answers!",
        "anonymous": "Your answers are anonymous: they are kept apart from who answered.",
        "used": "This link has been used to answer. Thank you!",
        "closed": "The survey is not open for answers.",
        "not_found": "This link is not valid. Use the link in the e-mail you received.",
        "other_language": "Dansk",
    },
}


def _render(
    request: Request, survey: Survey | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "survey.html",
        {
            **language_context(TEXT, page_language(request)),
            "survey": survey,
            "errors": {},
            "form": {},
            "state": "form",
            **context,
        },
        status_code=status_code,
    )


async def _survey_of(
    uow: UnitOfWorkDep, settings: MetricsSettings, token: str
) -> tuple[Survey, str]:
    """The survey a link opens and whom the link is for (as a hash)."""
    target, person = survey_link_parts(settings.link_key, token)
    return await surveys.for_link(uow, target), survey_person(settings.link_key, target, person)


@router.get("/survey/{token}", response_class=HTMLResponse)
async def survey_page(
    request: Request, token: str, uow: UnitOfWorkDep, settings: SettingsDep
) -> HTMLResponse:
    async with uow:
        try:
            survey, who = await _survey_of(uow, settings, token)
        except NotFound:
            return _render(request, None, 404, state="not_found")
        if await surveys.used(uow, survey, who):
            return _render(request, survey, state="used")
        if not surveys.answerable(survey, uow.now()):
            return _render(request, survey, state="closed")
    return _render(request, survey)


@router.post("/survey/{token}", response_class=HTMLResponse)
async def answer_survey(
    request: Request, token: str, uow: UnitOfWorkDep, settings: SettingsDep
) -> HTMLResponse:
    form = await request.form()
    values = {key: [str(v) for v in form.getlist(key)] for key in form.keys()}
    async with uow:
        try:
            survey, who = await _survey_of(uow, settings, token)
        except NotFound:
            return _render(request, None, 404, state="not_found")
        filled = questionnaire.read_form(survey.questions, values)
        if filled.errors:
            errors = {qid: TEXT[page_language(request)][key] for qid, key in filled.errors.items()}
            return _render(request, survey, 422, errors=errors, form=values)
        try:
            await surveys.answer(uow, survey, who, filled.answers, page_language(request))
            await uow.commit()
        except Conflict:
            used = await surveys.used(uow, survey, who)
            return _render(request, survey, 409, state="used" if used else "closed")
    return _render(request, survey, state="thanks")


@router.get("/reports/plans/{token}", response_class=HTMLResponse)
async def plan_report_page(
    request: Request,
    token: str,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    period_start: PlanDate | None = None,
    period_end: PlanDate | None = None,
) -> HTMLResponse:
    """A plan's report behind the link `GET /v1/plans/{id}/report` gives (it expires)."""
    plan_id = reports.plan_of_link(settings, token)
    period = reports.Period(period_start, period_end)
    async with uow:
        report = await reports.plan_report(uow, plan_id, period)
    page = language_context(REPORT_TEXT, page_language(request))
    return templates.TemplateResponse(
        request,
        "report.html",
        {
            **page,
            "report": report,
            "charts": reports.charts(report, page["t"]),
            "period_query": reports.period_query(period, first="&"),
        },
    )


templates.env.filters["number"] = number

REPORT_TEXT: dict[str, dict[str, str]] = {
    "da": {
        "report": "Rapport",
        "plan": "Plan",
        "generated": "Lavet {at} (UTC).",
        "period": "Periode: {start} – {end}.",
        "open_start": "planens start",
        "open_end": "i dag",
        "goals": "Mål",
        "goals_caption": "Hvert mål: målværdi, seneste målte værdi, og om det er nået",
        "goal": "Mål",
        "target": "Målværdi",
        "measured": "Målt",
        "state": "Status",
        "attained": "nået",
        "behind": "under målet",
        "unmeasured": "ikke målt endnu",
        "no_goals": "Planen har ingen mål.",
        "goals_chart": "Mål: målt i procent af målværdien (tallene står i tabellen ovenfor)",
        "goals_chart_title": "Målt, i procent af målværdien",
        "activities": "Aktiviteter",
        "activity": "Aktivitet",
        "when": "Hvornår",
        "sent": "Sendt",
        "failed": "Fejlet",
        "reach": "Nået (kontakter)",
        "cancelled": "aflyst",
        "audiences": "Målgrupper",
        "audience": "Målgruppe",
        "no_audience": "(talt før målgrupper blev det)",
        "sent_per_day": "Beskeder sendt pr. dag",
        "reached_so_far": "Kontakter nået i alt, dag for dag (hver kontakt én gang)",
        "events": "Arrangementer",
        "event": "Arrangement",
        "registered": "Tilmeldt",
        "waitlisted": "På venteliste",
        "response_rate": "Svarprocent",
        "checked_in": "Tjekket ind",
        "no_show": "Udeblev",
        "satisfied": "Tilfredse",
        "answers": "svar",
        "satisfaction_chart": "Tilfredshed: svar pr. karakter, fra 1 (meget utilfreds) til 5 "
        "(meget tilfreds)",
        "satisfaction_chart_title": "Tilfredshed, svar pr. karakter (1–5)",
        "other_language": "English",
    },
    "en": {
        "report": "Report",
        "plan": "Plan",
        "generated": "Generated {at} UTC.",
        "period": "Period: {start} – {end}.",
        "open_start": "the plan's start",
        "open_end": "today",
        "goals": "Goals",
        "goals_caption": "Each goal: target, latest measured value, attained",
        "goal": "Goal",
        "target": "Target",
        "measured": "Measured",
        "state": "State",
        "attained": "attained",
        "behind": "below target",
        "unmeasured": "not measured yet",
        "no_goals": "The plan has no goals.",
        "goals_chart": "Goals: measured as per cent of target (the table above has the figures)",
        "goals_chart_title": "Measured, per cent of target",
        "activities": "Activities",
        "activity": "Activity",
        "when": "When",
        "sent": "Sent",
        "failed": "Failed",
        "reach": "Reach (contacts)",
        "cancelled": "cancelled",
        "audiences": "Audiences",
        "audience": "Audience",
        "no_audience": "(counted before audiences were)",
        "sent_per_day": "Messages sent per day",
        "reached_so_far": "Contacts reached so far, day by day (each contact once)",
        "events": "Events",
        "event": "Event",
        "registered": "Registered",
        "waitlisted": "Waitlisted",
        "response_rate": "Response rate",
        "checked_in": "Checked in",
        "no_show": "No-show",
        "satisfied": "Satisfied",
        "answers": "answers",
        "satisfaction_chart": "Satisfaction: answers per score, 1 (very dissatisfied) to 5 "
        "(very satisfied)",
        "satisfaction_chart_title": "Satisfaction, answers per score (1–5)",
        "other_language": "Dansk",
    },
}
