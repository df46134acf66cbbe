"""`python -m bot.chart.draw`: reads a ChartSeries as JSON on stdin and writes the digest's chart as PNG on
stdout — paused minutes per hour of the day, stacked by group, break-glass hours marked. The only module
that imports matplotlib; run only as a child process (bot/chart/__init__.py)."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

WIDTH_INCHES, HEIGHT_INCHES, DPI = 9.0, 4.0, 100


class BadSeries(ValueError):
    """The series cannot be drawn (found before matplotlib is loaded, which costs a second)."""


def check(series: dict[str, Any]) -> None:
    hours = len(series.get("hour_labels") or [])
    if not hours:
        raise BadSeries("no hours to draw")
    for group, minutes in (series.get("minutes_by_group") or {}).items():
        if len(minutes) != hours:
            raise BadSeries(f"group {group!r} has {len(minutes)} hourly values for {hours} hours")
    if any(not 0 <= int(hour) < hours for hour in series.get("breakglass_hours") or []):
        raise BadSeries("a break-glass hour lies outside the chart")


def draw(series: dict[str, Any]) -> bytes:
    check(series)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    labels: list[str] = list(series["hour_labels"])
    positions = list(range(len(labels)))
    figure, axes = pyplot.subplots(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    bottom = [0.0] * len(labels)
    colours = pyplot.get_cmap("tab10")
    handles: list[Any] = []
    for n, (group, minutes) in enumerate(sorted(series["minutes_by_group"].items())):
        values = [float(value) for value in minutes]
        bars = axes.bar(positions, values, bottom=bottom, color=colours(n % 10), width=0.8, label=group)
        handles.append(bars)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    top = max([*bottom, 1.0])
    marked = list(series["breakglass_hours"])
    for hour in marked:
        axes.axvspan(hour - 0.45, hour + 0.45, color="#d62728", alpha=0.12, zorder=0)
        axes.annotate("!", (hour, bottom[hour]), xytext=(0, 3), textcoords="offset points", ha="center",
                      color="#d62728", fontweight="bold")  # fmt: skip
    if marked:
        handles.append(Patch(color="#d62728", alpha=0.25, label="break-glass began"))
    axes.set_xticks(positions, labels)
    axes.set_xlim(-0.6, len(labels) - 0.4)
    axes.set_ylim(0, top * 1.15)
    axes.set_xlabel("hour of the day")
    axes.set_ylabel("paused minutes")
    axes.set_title(str(series["title"]), fontsize=10, loc="left", pad=18)
    if handles:
        # Above the bars, right of the title: a legend inside the axes would hide the busiest hour.
        axes.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=min(4, len(handles)),
                    fontsize=8, frameon=False)  # fmt: skip
    else:
        axes.text(0.5, 0.5, "no pauses", transform=axes.transAxes, ha="center", va="center", color="#777777")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def main() -> int:
    try:
        png = draw(json.load(sys.stdin))
    except (BadSeries, ValueError, KeyError, TypeError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
