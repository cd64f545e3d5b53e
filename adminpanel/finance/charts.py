"""Bar charts as inline SVG, drawn on the server: the dashboard needs no script and no CDN.
One group of bars per day, one bar per series, a value axis from zero, and a tooltip
(`<title>`) on every bar with the day and the exact value."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 10, 24
COLOURS = ["#417690", "#e1a23b", "#70bf2b", "#ba2121", "#8a5bb5", "#6c6c6c"]

Number = int | Decimal


def _axis_top(highest: float) -> float:
    """A round value at or above `highest` (1, 2 or 5 times a power of ten)."""
    if highest <= 0:
        return 1.0
    scale = 10 ** (len(str(int(highest))) - 1)
    for step in (1, 2, 5, 10):
        if step * scale >= highest:
            return float(step * scale)
    return float(10 * scale)


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.2f}"


def bar_chart(
    *, title: str, days: Sequence[date], series: dict[str, Sequence[Number]], unit: str
) -> SafeString:
    """An SVG bar chart of `series` (name -> one value per day of `days`)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _axis_top(max((float(v) for values in series.values() for v in values), default=0))
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.8 / max(len(series), 1), 0.5)
    parts = [
        format_html(
            '<svg class="finance-chart" role="img" viewBox="0 0 {} {}" width="100%"'
            ' xmlns="http://www.w3.org/2000/svg"><title>{}</title>',
            WIDTH,
            HEIGHT,
            title,
        )
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ccc" stroke-width="1"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#666">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 6,
                f"{y + 4:.1f}",
                _label(top * fraction),
            )
        )
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        for d, (day, value) in enumerate(zip(days, values, strict=True)):
            if not value:
                continue
            height = plot_h * float(value) / top
            x = LEFT + d * slot + slot * 0.1 + n * bar
            parts.append(
                format_html(
                    '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {} ({})</title></rect>",
                    f"{x:.2f}",
                    f"{TOP + plot_h - height:.2f}",
                    f"{bar:.2f}",
                    f"{height:.2f}",
                    colour,
                    day.isoformat(),
                    value,
                    unit,
                    name,
                )
            )
    # The first and last day's labels stay inside the plot.
    anchors = {0: "start", len(days) // 2: "middle", len(days) - 1: "end"} if days else {}
    for d, anchor in sorted(anchors.items()):
        x = {"start": LEFT + d * slot, "middle": LEFT + d * slot + slot / 2}.get(
            anchor, LEFT + (d + 1) * slot
        )
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="{}" fill="#666">{}</text>',
                f"{x:.1f}",
                HEIGHT - 6,
                anchor,
                days[d].isoformat(),
            )
        )
    parts.append(mark_safe("</svg>"))
    legend = "".join(
        format_html(
            '<span class="finance-legend"><span style="background:{}"></span>{}</span>',
            COLOURS[n % len(COLOURS)],
            name,
        )
        for n, name in enumerate(series)
    )
    # Every part was built by format_html, which escaped its values.
    return mark_safe(legend + "".join(parts))  # noqa: S308
