"""The reports' charts: drawn on the server as SVG with pygal, in one style, with no script
(the pages work without JavaScript, and pygal's tooltips would fetch from the internet)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from pygal.style import Style

STYLE = Style(
    background="white",
    plot_background="white",
    font_family="system-ui, sans-serif",
    colors=("#0b5394", "#f9a825", "#2e7d32", "#b00020"),
)
CHART_MAX_PERCENT = 1000.0  # a goal's bar ends here (10× its target); the table has its value
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def chart(kind: type, title: str, **options) -> pygal.Graph:  # type: ignore[no-untyped-def]
    return kind(
        title=title,
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=720,
        height=320,
        print_values=True,
        **options,
    )


def svg(drawn: pygal.Graph) -> str:
    # pygal writes its config (labels included) into a script element for its tooltips; the
    # page has no script, and wants no text of ours inside one
    return _SCRIPT.sub("", drawn.render(is_unicode=True))


def share_of_target(value: float, target: float) -> float:
    """Per cent of the target reached, within the chart's scale: a value of 1e300 against a
    target of 1 is infinite per cent, on which the chart's scale once failed (a 500)."""
    return min(max(100 * value / target, 0.0), CHART_MAX_PERCENT)


def goals_chart(
    title: str, labels: tuple[str, str], goals: Sequence[tuple[str, float, float]]
) -> str:
    """Each goal (name, measured value, target) as per cent of its target, beside the
    target's 100 %; `labels` names the two series (target, measured)."""
    drawn = chart(pygal.HorizontalBar, title)
    drawn.x_labels = [name for name, _, _ in goals]
    reached = [round(share_of_target(value, target), 1) for _, value, target in goals]
    drawn.add(labels[0], [100] * len(goals))
    drawn.add(labels[1], reached)
    drawn.range = (0, max(100, *reached))
    return svg(drawn)


def number(value: float, language: str) -> str:
    """74.5 as a reader of the page writes it: 74,5 in Danish."""
    written = f"{value:g}"
    return written.replace(".", ",") if language == "da" else written
