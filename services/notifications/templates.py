"""Message templates: how a send's message reaches each person, in their language.

A template is Jinja2 for the subject, the plain text and (optionally) the HTML of an e-mail,
one per language, rendered in a sandbox (`template_sandbox`: a template cannot reach Python,
nor change the values it is given, nor do more work than a rendering's bounds allow) with
strict undefined variables. It sees `contact` (name, language), `message` (the send's subject and
body) and `unsubscribe_url`. Every variable a template uses is checked before a send starts,
so a mistake is a 422 when the send is made, not a thousand failed deliveries.

"standard" is built in, in Danish and English; a template saved under that name and
language replaces it. A template needs its Danish version; a contact who reads English gets
the English one where there is one, else the Danish.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.tables import MessageTemplate
from services.notifications.template_sandbox import HTML, TEXT, metered
from shared.errors import RuleViolation
from shared.uow import UnitOfWork

LANGUAGES = ("da", "en")
VARIABLES = {"contact", "message", "unsubscribe_url"}
STANDARD = "standard"


@dataclass(frozen=True)
class Template:
    subject: str
    text: str
    html: str | None = None


BUILT_IN: dict[str, Template] = {
    "da": Template(
        subject="{{ message.subject }}",
        text="Kære {{ contact.name }}\n\n{{ message.body }}\n\n-- \nDu får denne e-mail, fordi du "
        "står på vores liste. Afmeld med ét klik: {{ unsubscribe_url }}\n",
    ),
    "en": Template(
        subject="{{ message.subject }}",
        text="Dear {{ contact.name }}\n\n{{ message.body }}\n\n-- \nYou receive this e-mail "
        "because you are on our list. Unsubscribe in one click: {{ unsubscribe_url }}\n",
    ),
}

SAMPLE = {
    "contact": {"name": "Mette Jensen", "language": "da"},
    "message": {
        "subject": "Tendens: ledigheden falder",
        "body": "Ledigheden i Midtjylland er faldet for tredje kvartal i træk.",
    },
    "unsubscribe_url": "https://budskab.example.org/unsubscribe/eksempel",
}


def check(template: Template) -> Rendered:
    """Refuse a template that does not parse, uses a variable no message provides, or cannot
    be rendered within the bounds; the template rendered with the sample data."""
    for part, source, env in (
        ("subject", template.subject, TEXT),
        ("text", template.text, TEXT),
        ("html", template.html, HTML),
    ):
        if source is None:
            continue
        try:
            unknown = meta.find_undeclared_variables(env.parse(source)) - VARIABLES
        except TemplateSyntaxError as exc:
            raise RuleViolation(f"{part}, line {exc.lineno}: {exc.message}") from None
        except RecursionError:
            raise RuleViolation(f"{part} is nested too deeply") from None
        if unknown:
            raise RuleViolation(
                f"{part} uses {', '.join(sorted(unknown))}, which no message has; "
                f"use {', '.join(sorted(VARIABLES))}"
            )
    try:  # each rendering its own sample: nothing a template does reaches the next one
        return render(template, copy.deepcopy(SAMPLE))  # contact.age: no contact has one
    except Exception as exc:  # noqa: BLE001 - whatever the sandbox raises is the author's to fix
        raise RuleViolation(f"the template cannot be rendered: {exc}") from None


async def checked(template: Template) -> Rendered:
    """check(), away from the event loop: a template that goes to the bounds takes a fraction
    of a second of a worker thread, while the service goes on answering."""
    return await asyncio.to_thread(check, template)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def render(template: Template, values: dict[str, Any]) -> Rendered:
    """The template with these values, within the bounds of one rendering (TooCostly if it
    goes over them; each part's other errors as Jinja raises them)."""
    with metered():
        compiled = _compiled(template)
        if _personal(template.subject):
            subject = _one_line(compiled[0].render(values))
        else:  # the same for everyone of a send: rendered once
            subject = _subject(template, values["message"]["subject"], values["message"]["body"])
        return Rendered(
            subject=subject,
            text=compiled[1].render(values),
            html=compiled[2].render(values) if compiled[2] is not None else None,
        )


def _one_line(subject: str) -> str:
    """A header: one line, whatever the values hold."""
    return " ".join(subject.split()) if any(c in subject for c in "\r\n") else subject


@lru_cache(maxsize=64)
def _personal(source: str) -> bool:
    """Whether a template part differs between people (it names the contact or their link)."""
    return bool(meta.find_undeclared_variables(TEXT.parse(source)) - {"message"})


@lru_cache(maxsize=64)
def _subject(template: Template, subject: str, body: str) -> str:
    return _one_line(_compiled(template)[0].render(message={"subject": subject, "body": body}))


@lru_cache(maxsize=64)
def _compiled(template: Template):  # type: ignore[no-untyped-def]
    return (
        TEXT.compile_template(template.subject),
        TEXT.compile_template(template.text),
        HTML.compile_template(template.html) if template.html else None,
    )


async def save(uow: UnitOfWork, name: str, language: str, template: Template) -> None:
    """Save a template in one language (a new one, or a new version). It is checked first,
    outside the transaction: a check may take a rendering's bound of time."""
    await checked(template)
    async with uow:
        row = await uow.session.get(MessageTemplate, (name, language))
        if row is None:
            row = MessageTemplate(name=name, language=language)
            uow.session.add(row)
        row.subject, row.text, row.html = template.subject, template.text, template.html
        row.updated_at = uow.now()
        await uow.commit()


async def find(session: AsyncSession, name: str, language: str) -> Template | None:
    """The template by that name in that language: saved, or built in."""
    found = await catalogue(session, {(name, language)})
    return found.get((name, language))


async def catalogue(
    session: AsyncSession, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], Template]:
    """The templates wanted, by (name, language), that exist (saved, or built in)."""
    found: dict[tuple[str, str], Template] = {}
    if wanted:
        rows = await session.execute(
            select(MessageTemplate).where(
                tuple_(MessageTemplate.name, MessageTemplate.language).in_(list(wanted))
            )
        )
        for (row,) in rows:
            found[(row.name, row.language)] = Template(row.subject, row.text, row.html)
    for name, language in wanted:
        if name == STANDARD and (name, language) not in found:
            found[(name, language)] = BUILT_IN[language]
    return found


def choose(found: dict[tuple[str, str], Template], name: str, language: str) -> Template | None:
    """The contact's language if the template has it, else Danish."""
    return found.get((name, language)) or found.get((name, "da"))
