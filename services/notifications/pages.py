"""The page behind every e-mail's unsubscribe link: one-click unsubscribe for mail clients
(RFC 8058: a POST with `List-Unsubscribe=One-Click`), and for people a small preferences page
to unsubscribe or to take it back. Server-rendered, Danish or English (`?lang=`), plain
forms that work without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.notifications import suppressions
from services.notifications.domain import SuppressionReason
from services.notifications.settings import NotificationsSettings
from shared.errors import NotFound
from shared.http import UnitOfWorkDep, get_settings
from shared.web import SHARED_TEMPLATES, language_context, page_language

SettingsDep = Annotated[NotificationsSettings, Depends(get_settings)]
router = APIRouter(include_in_schema=False)  # pages for people; the API is under /v1
templates = Jinja2Templates(directory=[Path(__file__).parent / "templates", SHARED_TEMPLATES])

TEXT: dict[str, dict[str, str]] = {
    "da": {
        "title": "Dine e-mails fra os",
        "subscribed": "Din adresse får nyhedsbreve og meddelelser fra os.",
        "unsubscribed": "Din adresse er afmeldt. Du får ikke flere nyhedsbreve og meddelelser fra os.",
        "bounced": "Vi sender ikke længere til din adresse, fordi e-mails til den kom retur.",
        "complained": "Vi sender ikke længere til din adresse, fordi en e-mail blev markeret som spam.",
        "unsubscribe": "Afmeld",
        "resubscribe": "Tilmeld igen",
        "done_unsubscribe": "Du er nu afmeldt.",
        "done_resubscribe": "Du er tilmeldt igen.",
        "not_found": "Linket er ugyldigt. Brug linket i den e-mail, du fik.",
        "other_language": "English",
    },
    "en": {
        "title": "Your e-mails from us",
        "subscribed": "Your address receives newsletters and messages from us.",
        "unsubscribed": "Your address is unsubscribed. You get no more newsletters or messages from us.",
        "bounced": "We no longer write to your address, because e-mails to it bounced.",
        "complained": "We no longer write to your address, because an e-mail was marked as spam.",
        "unsubscribe": "Unsubscribe",
        "resubscribe": "Subscribe again",
        "done_unsubscribe": "You are unsubscribed.",
        "done_resubscribe": "You are subscribed again.",
        "not_found": "This link is not valid. Use the link in the e-mail you received.",
        "other_language": "Dansk",
    },
}


async def _page(
    request: Request,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    token: str,
    done: str | None = None,
) -> HTMLResponse:
    context = language_context(TEXT, page_language(request))
    try:
        email_hash = suppressions.hash_of_link(settings, token)
    except NotFound:
        return templates.TemplateResponse(
            request, "preferences.html", {**context, "invalid": True}, status_code=404
        )
    async with uow:
        reason = await suppressions.reason_for(uow, email_hash)
    return templates.TemplateResponse(
        request,
        "preferences.html",
        {**context, "reason": reason, "done": done, "reasons": SuppressionReason},
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def preferences(
    request: Request, token: str, uow: UnitOfWorkDep, settings: SettingsDep
) -> HTMLResponse:
    return await _page(request, uow, settings, token)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def change(
    request: Request,
    token: str,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
    action: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """A mail client's one-click POST, or the page's own form (`action`)."""
    try:
        email_hash = suppressions.hash_of_link(settings, token)
    except NotFound:
        return await _page(request, uow, settings, token)
    wanted = "unsubscribe" if one_click == "One-Click" else action
    if wanted not in ("unsubscribe", "resubscribe"):
        return await _page(request, uow, settings, token)
    async with uow:
        if wanted == "unsubscribe":
            await suppressions.suppress(uow, email_hash, SuppressionReason.UNSUBSCRIBED)
            done: str | None = wanted
        else:  # said only if it happened: a bounce or a complaint is not lifted by the person
            done = wanted if await suppressions.resubscribe(uow, email_hash) else None
        await uow.commit()
    return await _page(request, uow, settings, token, done=done)
