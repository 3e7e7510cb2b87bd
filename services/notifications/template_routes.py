"""The templates API: save, list and preview the templates of sends' e-mails."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy import select

from services.notifications import schemas, templates
from services.notifications.access import Communicator, DeliveryReader
from services.notifications.tables import (
    MessageTemplate,
)
from shared.http import UnitOfWorkDep

router = APIRouter(prefix="/v1", tags=["templates"])


@router.get("/templates", response_model=list[schemas.TemplatePublic])
async def list_templates(uow: UnitOfWorkDep, _: DeliveryReader) -> list[schemas.TemplatePublic]:
    """The saved templates, and the built-in ones no saved one replaces."""
    async with uow:
        saved = list(await uow.session.scalars(select(MessageTemplate)))
    listed = [
        schemas.TemplatePublic(
            name=t.name, language=t.language, subject=t.subject, text=t.text, html=t.html,
            built_in=False,
        )
        for t in saved
    ]  # fmt: skip
    replaced = {(t.name, t.language) for t in saved}
    for language, t in templates.BUILT_IN.items():
        if (templates.STANDARD, language) not in replaced:
            listed.append(
                schemas.TemplatePublic(
                    name=templates.STANDARD, language=language, subject=t.subject, text=t.text,
                    html=t.html, built_in=True,
                )
            )  # fmt: skip
    return sorted(listed, key=lambda t: (t.name, t.language))


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
    await templates.checked(templates.Template(body.subject, body.text, body.html))
    async with uow:
        row = await uow.session.get(MessageTemplate, (name, language))
        if row is None:
            row = MessageTemplate(name=name, language=language)
            uow.session.add(row)
        row.subject, row.text, row.html, row.updated_at = (
            body.subject, body.text, body.html, uow.now(),
        )  # fmt: skip
        await uow.commit()
    return schemas.TemplatePublic(
        name=name, language=language, subject=body.subject, text=body.text, html=body.html,
        built_in=False,
    )  # fmt: skip


@router.post("/templates/preview", response_model=schemas.Preview)
async def preview_template(body: schemas.TemplateBody, _: DeliveryReader) -> schemas.Preview:
    """A template rendered with sample data (a contact, a message, an unsubscribe link), as
    it would be sent; a template that cannot be sent is a 422 saying why."""
    rendered = await templates.checked(templates.Template(body.subject, body.text, body.html))
    return schemas.Preview(subject=rendered.subject, text=rendered.text, html=rendered.html)
