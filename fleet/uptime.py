"""Uptime per node over a rolling window, from observations of up and down (docs/fleet.md).

An observation says "at time t the node was up" (or down). Each one's state
holds until the next observation, for at most QPGOV_UPTIME_MAX_GAP_HOURS;
time no observation covers is *unobserved*: shown apart and never counted as
up. Uptime is the share of the window the node was observed up. The window
starts 30 days ago, or at the node's first observation if that is later, so a
node is not held to days before anyone watched it.

Observations come from sources: functions `(node_ids, since, until) ->
{node_id: [Observation, ...]}`. The daily checks are one (`from_checks`);
alert history is the other (`from_alerts`: node-down alerts from Alertmanager).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from .models import Alert, NodeCheck

WINDOW = timedelta(days=30)
UP, DOWN, UNOBSERVED = "up", "down", "unobserved"


@dataclass(frozen=True, order=True)
class Observation:
    at: datetime
    up: bool
    source: str = "checks"


@dataclass
class Segment:
    start: datetime
    end: datetime
    state: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Uptime:
    window_start: datetime  # 30 days before `end`: what the chart shows
    start: datetime  # where the count starts: window_start or the first observation
    end: datetime
    segments: list[Segment] = field(default_factory=list)

    def _total(self, state: str) -> float:
        return sum(s.seconds for s in self.segments if s.state == state and s.start >= self.start)

    @property
    def up_seconds(self) -> float:
        return self._total(UP)

    @property
    def down_seconds(self) -> float:
        return self._total(DOWN)

    @property
    def unobserved_seconds(self) -> float:
        return self._total(UNOBSERVED)

    @property
    def percent(self) -> float | None:
        """Share of the counted window observed up; None before any observation."""
        total = (self.end - self.start).total_seconds()
        return None if total <= 0 else self.up_seconds * 100 / total

    @property
    def meets_standard(self) -> bool:
        return self.percent is not None and self.percent >= settings.QPGOV_UPTIME_TARGET_PERCENT

    def percent_of(self, state: str) -> float:
        total = (self.end - self.start).total_seconds()
        return 0.0 if total <= 0 else self._total(state) * 100 / total

    @property
    def down_percent(self) -> float:
        return self.percent_of(DOWN)

    @property
    def unobserved_percent(self) -> float:
        return self.percent_of(UNOBSERVED)


def compute(observations: Iterable[Observation], end: datetime, window: timedelta = WINDOW,
            max_gap: timedelta | None = None) -> Uptime:
    """Uptime over the `window` before `end`, from observations at any time (older ones carry in)."""
    max_gap = max_gap or timedelta(hours=settings.QPGOV_UPTIME_MAX_GAP_HOURS)
    window_start = end - window
    ordered = sorted(o for o in observations if o.at <= end)
    # Of observations at the same instant a down wins: never round a failure away.
    merged: list[Observation] = []
    for obs in ordered:
        if merged and merged[-1].at == obs.at:
            if not obs.up:
                merged[-1] = obs
            continue
        merged.append(obs)
    before = [o for o in merged if o.at <= window_start]
    inside = [o for o in merged if o.at > window_start]
    carried = before[-1:]  # the last one before the window may still hold at its start
    uptime = Uptime(window_start, window_start, end)
    if not carried:
        if not inside:
            uptime.start = end  # nothing observed: nothing to count
            uptime.segments = [Segment(window_start, end, UNOBSERVED)]
            return uptime
        uptime.start = inside[0].at
    points = carried + inside
    raw = []
    if uptime.start > window_start:
        raw.append(Segment(window_start, uptime.start, UNOBSERVED))
    for obs, following in zip(points, [*points[1:], None], strict=True):
        until = following.at if following else end
        held = min(until, obs.at + max_gap)
        raw.append(Segment(obs.at, held, UP if obs.up else DOWN))
        if held < until:
            raw.append(Segment(held, until, UNOBSERVED))
    uptime.segments = _merge(_clip(raw, window_start, end))
    return uptime


def _clip(segments: list[Segment], start: datetime, end: datetime) -> list[Segment]:
    clipped = []
    for s in segments:
        a, b = max(s.start, start), min(s.end, end)
        if a < b:
            clipped.append(Segment(a, b, s.state))
    return clipped


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for s in segments:
        if merged and merged[-1].state == s.state and merged[-1].end == s.start:
            merged[-1] = Segment(merged[-1].start, s.end, s.state)
        else:
            merged.append(s)
    return merged


# Sources.

def from_checks(node_ids: list[int], since: datetime, until: datetime
                ) -> dict[int, list[Observation]]:
    """One observation per node per check run, from its service and block-height checks.

    Down if either failed; up if either passed and neither failed; a run where
    both are unknown observes nothing. Its time is the later of the two checks.
    """
    runs: dict[tuple[int, int], list[tuple[datetime, str]]] = defaultdict(list)
    rows = NodeCheck.objects.filter(
        node_id__in=node_ids, kind__in=["service", "height"], checked_at__gt=since,
        checked_at__lte=until,
    ).exclude(status=NodeCheck.UNKNOWN).values_list("node_id", "run_id", "checked_at", "status")
    for node_id, run_id, checked_at, status in rows.iterator(chunk_size=5000):
        runs[(node_id, run_id)].append((checked_at, status))
    observed: dict[int, list[Observation]] = defaultdict(list)
    for (node_id, _), checks in runs.items():
        at = max(c[0] for c in checks)
        observed[node_id].append(Observation(at, all(s == NodeCheck.PASS for _, s in checks)))
    return observed


def from_alerts(node_ids: list[int], since: datetime, until: datetime
                ) -> dict[int, list[Observation]]:
    """Down from when a node-down alert started; up again when Alertmanager resolved it.

    Only the alert rules named in QPGOV_UPTIME_DOWN_ALERTS count (a full disk is a
    warning, not an outage). An alert that began before the window is observed at
    the window's start; one still firing holds, like any observation, until the
    next observation or for at most the maximum gap.
    """
    observed: dict[int, list[Observation]] = defaultdict(list)
    rows = Alert.objects.filter(
        node_id__in=node_ids, alertname__in=settings.QPGOV_UPTIME_DOWN_ALERTS,
        starts_at__lte=until,
    ).exclude(status=Alert.RESOLVED, ends_at__lte=since).values_list(
        "node_id", "starts_at", "status", "ends_at")
    for node_id, starts_at, status, ends_at in rows.iterator(chunk_size=5000):
        observed[node_id].append(Observation(max(starts_at, since), False, "alerts"))
        if status == Alert.RESOLVED and ends_at is not None and ends_at <= until:
            observed[node_id].append(Observation(ends_at, True, "alerts"))
    return observed


Source = Callable[[list[int], datetime, datetime], dict[int, list[Observation]]]
SOURCES: list[Source] = [from_checks, from_alerts]


def for_nodes(node_ids: list[int], end: datetime) -> dict[int, Uptime]:
    """Uptime of each node over the window before `end`, a fixed number of queries per source."""
    max_gap = timedelta(hours=settings.QPGOV_UPTIME_MAX_GAP_HOURS)
    since = end - WINDOW - max_gap  # an observation older than this cannot reach the window
    observed: dict[int, list[Observation]] = defaultdict(list)
    for source in SOURCES:
        for node_id, observations in source(node_ids, since, end).items():
            observed[node_id].extend(observations)
    return {node_id: compute(observed.get(node_id, []), end, WINDOW, max_gap)
            for node_id in node_ids}


# The chart: a strip of the window, drawn server-side as SVG (fleet/_uptime.svg).

CHART_WIDTH, CHART_HEIGHT = 300, 14


def chart(uptime: Uptime) -> list[dict]:
    """Rectangles for the template: x and width in chart units, the state and a label."""
    total = (uptime.end - uptime.window_start).total_seconds()
    rects = []
    for s in uptime.segments:
        x = (s.start - uptime.window_start).total_seconds() * CHART_WIDTH / total
        width = s.seconds * CHART_WIDTH / total
        rects.append({"x": round(x, 2), "width": round(max(width, 1.0), 2), "state": s.state,
                      "label": f"{s.state} {s.start:%Y-%m-%d %H:%M} – {s.end:%Y-%m-%d %H:%M} UTC"})
    return rects
