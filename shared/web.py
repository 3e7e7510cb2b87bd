"""What the services' pages for people share: the base template (layout, styles, `lang`),
and which language a page is shown in."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request

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
