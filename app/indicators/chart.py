"""A bar chart of indicator progress drawn on the server as inline SVG (no script, prints as is).

Each indicator is one row: a light bar for the target, a solid bar for what was achieved
(green once the target is met), a dashed mark at the baseline. In right-to-left pages
the bars grow from the right.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import format_decimal, format_percent
from markupsafe import Markup, escape

WIDTH = 640
ROW = 50
LABEL = 20
BAR = 16
PAD = 8


def _number(value: Decimal) -> str:
    return format_decimal(value, format="#,##0.##")


def chart_svg(progress: list, *, rtl: bool = False, title: str = "") -> Markup:
    """The SVG for a list of `Progress` (app.indicators.services)."""
    if not progress:
        return Markup("")
    height = PAD * 2 + ROW * len(progress)
    inner = WIDTH - 2 * PAD

    def x(offset: float, width: float = 0) -> float:
        return round(WIDTH - PAD - offset - width if rtl else PAD + offset, 1)

    parts = [
        f'<svg class="indicator-chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" direction="{"rtl" if rtl else "ltr"}">',
        f"<title>{escape(title)}</title>",
    ]
    anchor = "start"  # with direction="rtl", start is the right edge
    for index, row in enumerate(progress):
        indicator = row.indicator
        scale = max(indicator.target, row.achieved, indicator.baseline, Decimal(1))
        top = PAD + index * ROW
        target_w = float(indicator.target / scale) * inner
        achieved_w = float(row.achieved / scale) * inner
        baseline_x = x(float(indicator.baseline / scale) * inner)
        unit = f" {indicator.unit}" if indicator.unit else ""
        # The name isolated (FSI … PDI): an Arabic name in a French or English label came out in a garbled
        # order; the percentage as the page's language writes it ("30%", "30 %").
        percent = format_percent(row.percent / 100)
        figures = f"{_number(row.achieved)} / {_number(indicator.target)}{unit} ({percent})"
        label = f"\u2068{indicator.name}\u2069 — {figures}"
        met = " is-met" if row.is_met else ""
        parts.append(f'<text x="{x(0)}" y="{top + LABEL - 4}" text-anchor="{anchor}">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar-target" x="{x(0, target_w)}" y="{top + LABEL}" width="{round(target_w, 1)}" '
            f'height="{BAR}" rx="2"/>'
        )
        if achieved_w > 0:
            parts.append(
                f'<rect class="bar-achieved{met}" x="{x(0, achieved_w)}" y="{top + LABEL + 3}" '
                f'width="{round(achieved_w, 1)}" height="{BAR - 6}" rx="2"/>'
            )
        if indicator.baseline > 0:
            parts.append(
                f'<line class="bar-baseline" x1="{baseline_x}" x2="{baseline_x}" y1="{top + LABEL - 2}" '
                f'y2="{top + LABEL + BAR + 2}"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
