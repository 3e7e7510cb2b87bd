"""The surveys API: set up a survey, open and close it, issue personal links, read results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import PlainTextResponse

from services.metrics import queries, schemas, surveys
from services.metrics.settings import MetricsSettings
from services.metrics.tables import Survey
from shared.auth import Principal, Role, require_roles
from shared.http import UnitOfWorkDep, get_settings
from shared.pagination import Limit, Offset, Page

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])

# analysts run surveys; event managers evaluate their events; planners measure their goals
SurveyOwner = Annotated[Principal, require_roles(Role.ANALYST, Role.EVENT_MANAGER, Role.PLANNER)]
SettingsDep = Annotated[MetricsSettings, Depends(get_settings)]


def _public(survey: Survey, response: Response) -> schemas.SurveyPublic:
    response.headers["ETag"] = f'"{survey.version}"'
    return schemas.SurveyPublic.model_validate(survey)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.SurveyPublic)
async def create_survey(
    body: schemas.SurveyCreate, uow: UnitOfWorkDep, principal: SurveyOwner, response: Response
) -> schemas.SurveyPublic:
    """A draft survey. Questions and options get ids that stay when they are renamed."""
    async with uow:
        survey = await surveys.create(uow, body, principal)
        await uow.commit()
    response.headers["Location"] = f"/v1/surveys/{survey.id}"
    return _public(survey, response)


@router.get("", response_model=Page[schemas.SurveyPublic])
async def list_surveys(
    uow: UnitOfWorkDep,
    _: SurveyOwner,
    event_id: str | None = None,
    plan_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.SurveyPublic]:
    async with uow:
        return await queries.surveys_page(
            uow.session, event_id=event_id, plan_id=plan_id, limit=limit, offset=offset
        )


@router.get("/{survey_id}", response_model=schemas.SurveyPublic)
async def get_survey(
    survey_id: str, uow: UnitOfWorkDep, _: SurveyOwner, response: Response
) -> schemas.SurveyPublic:
    async with uow:
        return _public(await surveys.get(uow, survey_id), response)


@router.put("/{survey_id}/questions", response_model=schemas.SurveyPublic)
async def replace_questions(
    survey_id: str,
    body: schemas.Questions,
    uow: UnitOfWorkDep,
    _: SurveyOwner,
    response: Response,
) -> schemas.SurveyPublic:
    """A draft's questions, anew; an open survey's only renamed (same ids, kinds, options)."""
    async with uow:
        survey = await surveys.replace_questions(uow, survey_id, body)
        await uow.commit()
        return _public(survey, response)


@router.post("/{survey_id}/open", response_model=schemas.SurveyPublic)
async def open_survey(
    survey_id: str, uow: UnitOfWorkDep, _: SurveyOwner, response: Response
) -> schemas.SurveyPublic:
    """Answers are taken from now (or from `opens_at`) until it is closed (or `closes_at`)."""
    async with uow:
        survey = await surveys.open_survey(uow, survey_id)
        await uow.commit()
        return _public(survey, response)


@router.post("/{survey_id}/close", response_model=schemas.SurveyPublic)
async def close_survey(
    survey_id: str, uow: UnitOfWorkDep, _: SurveyOwner, response: Response
) -> schemas.SurveyPublic:
    async with uow:
        survey = await surveys.close(uow, survey_id)
        await uow.commit()
        return _public(survey, response)


@router.post("/{survey_id}/links", response_model=list[schemas.SurveyLink])
async def issue_links(
    survey_id: str,
    body: schemas.LinksCreate,
    uow: UnitOfWorkDep,
    _: SurveyOwner,
    settings: SettingsDep,
) -> list[schemas.SurveyLink]:
    """Personal single-use links, one per reference, to send yourself (a newsletter's merge
    field, say). An event's checked-in attendees get theirs by e-mail without this."""
    async with uow:
        survey = await surveys.get(uow, survey_id)
        links = await surveys.issue_links(
            uow, survey, body.references, settings.link_key, settings.public_url
        )
        await uow.commit()
    return links


@router.get("/{survey_id}/results", response_model=schemas.SurveyResults)
async def survey_results(
    survey_id: str, uow: UnitOfWorkDep, _: SurveyOwner
) -> schemas.SurveyResults:
    """Per question: counts and shares, mean, texts; response rate; share satisfied. An
    anonymous survey hides what fewer than five people answered."""
    async with uow:
        return await surveys.results(uow, await surveys.get(uow, survey_id))


@router.get(
    "/{survey_id}/answers.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_answers(survey_id: str, uow: UnitOfWorkDep, _: SurveyOwner) -> Response:
    """Every answer, one row each (UTF-8 with BOM, for spreadsheets)."""
    async with uow:
        text = await surveys.export_csv(uow, await surveys.get(uow, survey_id))
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="survey-{survey_id}.csv"'},
    )
