"""Installs, uninstalls and reinstall-needed per week, for the last six months, as an SVG chart.

One grouped query, cached until the history changes, drawn as inline SVG (no JavaScript).
"Reinstall needed" counts workspaces that lost a working token other than by an uninstall.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from installations.models import LifecycleEvent
from installations.reporting import health

WEEKS = 26  # six months
Kind = LifecycleEvent.Kind

INSTALLS = Q(kind=Kind.INSTALLED)
UNINSTALLS = Q(kind=Kind.UNINSTALLED)
REINSTALL_NEEDED = (
    Q(kind__in=[Kind.BOT_REVOKED, Kind.REVOKED])
    | Q(kind=Kind.REFRESH_FAILED, detail__endswith="reinstall needed")
    | Q(kind=Kind.VERIFY_FAILED, detail__endswith="health dead")
)
SERIES = (  # (field, label, CSS class)
    ("installs", "New installs", "ws-chart-installs"),
    ("uninstalls", "Uninstalls", "ws-chart-uninstalls"),
    ("reinstall_needed", "Reinstall needed", "ws-chart-reinstall"),
)


@dataclass(frozen=True)
class Week:
    start: date
    installs: int = 0
    uninstalls: int = 0
    reinstall_needed: int = 0

    def value(self, field: str) -> int:
        return int(getattr(self, field))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_activity(weeks: int = WEEKS, now: datetime | None = None) -> list[Week]:
    """The last ``weeks`` weeks (Monday first, in the site's time zone), oldest first, with
    zeros for quiet weeks. One query, grouped by week in the database."""
    now = now or timezone.now()
    first = _monday(timezone.localtime(now).date()) - timedelta(weeks=weeks - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    rows = (
        LifecycleEvent.objects.filter(
            INSTALLS | UNINSTALLS | REINSTALL_NEEDED, occurred_at__gte=since
        )
        .annotate(week=TruncWeek("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("week")
        .annotate(
            installs=Count("pk", filter=INSTALLS),
            uninstalls=Count("pk", filter=UNINSTALLS),
            reinstall_needed=Count("workspace", filter=REINSTALL_NEEDED, distinct=True),
        )
        .order_by("week")
    )
    found: dict[date, Week] = {}
    for row in rows:
        start = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        found[start] = Week(start, row["installs"], row["uninstalls"], row["reinstall_needed"])
    days = (first + timedelta(weeks=n) for n in range(weeks))
    return [found.get(day, Week(day)) for day in days]


# --- drawing -------------------------------------------------------------------------------------

WIDTH, HEIGHT = 780, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 12, 34  # room for the axis labels
BAR_GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    weeks: list[Week]
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: tuple[tuple[str, str, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not any(week.value(field) for week in self.weeks for field, _, _ in SERIES)

    @property
    def rows(self) -> list[tuple[Week, list[int]]]:
        """The table for screen readers: each week with one number per series."""
        return [(week, [week.value(field) for field, _, _ in SERIES]) for week in self.weeks]


def _nice_top(peak: int) -> int:
    """A round number at or above the peak, so the axis reads 0, 5, 10 rather than 0, 7, 14."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if peak <= step * 4:
            return step * 4
    return ((peak // 10_000) + 1) * 10_000


def build_chart(weeks: list[Week]) -> Chart:
    """Grouped bars: one group per week, one bar per series, scaled to a round maximum."""
    peak = max((week.value(field) for week in weeks for field, _, _ in SERIES), default=0)
    top = _nice_top(max(peak, 1))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    group = plot_width / max(len(weeks), 1)
    bar_width = (group - 3 * BAR_GAP) / len(SERIES)
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for index, week in enumerate(weeks):
        x0 = LEFT + index * group + BAR_GAP
        for n, (field, label, css) in enumerate(SERIES):
            value = week.value(field)
            height = plot_height * value / top
            bars.append(
                Bar(
                    x=round(x0 + n * bar_width, 2),
                    y=round(HEIGHT - BOTTOM - height, 2),
                    width=round(max(bar_width - 0.5, 1), 2),
                    height=round(height, 2),
                    css=css,
                    title=f"Week of {week.start:%Y-%m-%d}: {label.lower()} {value}",
                )
            )
        if index % 4 == 0:  # a date every four weeks keeps the labels apart
            x_ticks.append(Tick(round(x0 + group / 2, 2), f"{week.start:%b %d}"))
    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * part / 4, 2), f"{top * part // 4}")
        for part in range(5)
    ]
    return Chart(weeks=weeks, bars=bars, y_ticks=y_ticks, x_ticks=x_ticks, series=SERIES)


def activity_chart(now: datetime | None = None) -> Chart:
    """The chart above the workspace list; its weeks cached like the status counts."""
    now = now or timezone.now()
    parts = (_monday(timezone.localtime(now).date()), timezone.get_current_timezone_name(), WEEKS)
    weeks = health.cached_with_history(
        "weekly_activity", parts, lambda: weekly_activity(now=now), valid_weeks
    )
    return build_chart(weeks)


def valid_weeks(value: object) -> list[Week] | None:
    """Cached weeks as ``weekly_activity`` returns them, or None (a wrong shape is a miss)."""
    if not isinstance(value, list) or len(value) != WEEKS:
        return None
    for week in value:
        if not isinstance(week, Week) or type(getattr(week, "start", None)) is not date:
            return None
        counts = [getattr(week, field, None) for field, _label, _css in SERIES]
        if not all(type(count) is int and count >= 0 for count in counts):
            return None
    return value
