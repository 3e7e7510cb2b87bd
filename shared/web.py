"""What the services' pages for people share: the base template (layout, styles, `lang`),
and which language a page is shown in."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

SHARED_TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("da", "en")  # every page is written in Danish and English


def page_language(request: Request, fallback: str = "da") -> str:
    """`?lang=` when it names one of LANGUAGES; else `fallback` (a registration's own
    language, say), else Danish."""
    wanted = request.query_params.get("lang")
    return wanted if wanted in LANGUAGES else fallback if fallback in LANGUAGES else "da"


def language_context(texts: Mapping[str, Any], language: str) -> dict[str, Any]:
    """What a page's template gets about its language: its texts, `lang`, and `other` (the
    language the switch link offers)."""
    return {"t": texts[language], "lang": language, "other": "en" if language == "da" else "da"}


# The pages' errors that reach no page of their own (an expired link, a form too big, a crash):
# a heading and a hint per status, the service's own detail (in English) beneath.
ERROR_TEXT: dict[str, dict[int, tuple[str, str]]] = {
    "da": {
        400: ("Forespørgslen kunne ikke læses", "Prøv igen fra siden, du kom fra."),
        403: ("Du har ikke adgang", "Brug linket fra din e-mail, eller spørg arrangøren."),
        404: ("Siden findes ikke", "Tjek adressen, eller brug linket fra din e-mail igen."),
        409: ("Det kunne ikke lade sig gøre", "Det passer ikke med det, der allerede er gemt."),
        410: ("Linket er ikke længere gyldigt", "Bed afsenderen om et nyt link."),
        413: ("Det sendte var for stort", "Send mindre ad gangen, og prøv igen."),
        422: ("Oplysningerne kunne ikke bruges", "Tjek det, du udfyldte, og prøv igen."),
        429: ("For mange forsøg", "Vent et øjeblik, og prøv så igen."),
        500: ("Der opstod en fejl hos os", "Fejlen er registreret. Prøv igen om lidt."),
    },
    "en": {
        400: ("The request could not be read", "Try again from the page you came from."),
        403: ("You do not have access", "Use the link from your e-mail, or ask the organiser."),
        404: ("This page does not exist", "Check the address, or use the link in your e-mail."),
        409: ("That could not be done", "It does not fit with what is already saved."),
        410: ("This link is no longer valid", "Ask the sender for a new link."),
        413: ("What was sent is too large", "Send less at a time and try again."),
        422: ("The details could not be used", "Check what you filled in and try again."),
        429: ("Too many attempts", "Wait a moment, then try again."),
        500: ("Something went wrong on our side", "The error was logged. Try again shortly."),
    },
}
OTHER_ERROR = {  # any other status of a request the service turned down
    "da": ("Det kunne ikke lade sig gøre", "Prøv igen fra siden, du kom fra."),
    "en": ("That could not be done", "Try again from the page you came from."),
}
SWITCH = {"da": "In English", "en": "På dansk"}
_pages = Environment(
    loader=FileSystemLoader(SHARED_TEMPLATES), autoescape=select_autoescape(default=True)
)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """A short page for a person's browser, in Danish or (`?lang=en`) English."""
    language = page_language(request)
    texts = ERROR_TEXT[language]
    heading, hint = texts.get(status) or (texts[500] if status >= 500 else OTHER_ERROR[language])
    page = _pages.get_template("error.html").render(
        heading=heading,
        hint=hint,
        detail=detail,
        **language_context(SWITCH, language),  # t: the switch's label
    )
    return HTMLResponse(page, status_code=status)
