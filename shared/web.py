"""What the services' pages for people share: the base template (layout, styles, `lang`)."""

from pathlib import Path

SHARED_TEMPLATES = Path(__file__).parent / "templates"
