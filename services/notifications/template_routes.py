"""The templates API: save, list and preview the templates of sends' e-mails."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from services.notifications import queries, schemas, templates
from services.notifications.access import Communicator, DeliveryReader
from shared.http import UnitOfWorkDep

router = APIRouter(prefix="/v1", tags=["templates"])


@router.get("/templates", response_model=list[schemas.TemplatePublic])
async def list_templates(uow: UnitOfWorkDep, _: DeliveryReader) -> list[schemas.TemplatePublic]:
    """The saved templates, and the built-in ones no saved one replaces."""
    async with uow:
        return await queries.templates_listed(uow.session)


@router.put("/templates/{name}/{language}", response_model=schemas.TemplatePublic)
async def save_template(
    name: schemas.TemplateName,
    language: Literal["da", "en"],
    body: schemas.TemplateBody,
    uow: UnitOfWorkDep,
    _: Communicator,
) -> schemas.TemplatePublic:
    """Save a template in one language (a new one, or a new version); it is checked first:
    it must parse and use only the variables a message has."""
    template = templates.Template(body.subject, body.text, body.html)
    await templates.save(uow, name, language, template)
    return queries.template_public(name, language, template, built_in=False)


@router.post("/templates/preview", response_model=schemas.Preview)
async def preview_template(body: schemas.TemplateBody, _: DeliveryReader) -> schemas.Preview:
    """A template rendered with sample data (a contact, a message, an unsubscribe link), as
    it would be sent; a template that cannot be sent is a 422 saying why."""
    rendered = await templates.checked(templates.Template(body.subject, body.text, body.html))
    return schemas.Preview(subject=rendered.subject, text=rendered.text, html=rendered.html)
