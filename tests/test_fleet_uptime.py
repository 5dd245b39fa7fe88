"""Uptime over 30 days from observations: what counts as down, how gaps count, the window's edges."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet import uptime
from fleet.models import Alert, AlertGroup, CheckRun, Node, NodeCheck
from fleet.uptime import DOWN, UNOBSERVED, UP, Observation

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
GAP = timedelta(hours=26)


def compute(*observations):
    return uptime.compute([Observation(at, up) for at, up in observations], END, max_gap=GAP)


def states(result):
    return [(s.state, s.start, s.end) for s in result.segments]


def test_nothing_observed_is_not_up():
    result = compute()
    assert result.percent is None and not result.meets_standard
    assert states(result) == [(UNOBSERVED, END - 30 * DAY, END)]


def test_daily_observations_all_up_give_100_percent_from_the_first_one():
    result = compute(*[(END - n * DAY, True) for n in range(29, -1, -1)])
    assert result.percent == 100.0 and result.meets_standard
    assert result.start == END - 29 * DAY  # not held to the day before anyone watched
    assert states(result)[0] == (UNOBSERVED, END - 30 * DAY, END - 29 * DAY)


def test_a_down_observation_holds_until_the_next_observation():
    result = compute((END - 10 * DAY, True), (END - 5 * DAY, False), (END - 5 * DAY + 6 * HOUR, True),
                     (END - HOUR, True))
    assert result.down_seconds == 6 * 3600
    assert not result.meets_standard  # 6 h in 10 days is 97.5 %


def test_a_gap_longer_than_the_maximum_is_unobserved_never_up():
    result = compute((END - 10 * DAY, True), (END - 2 * DAY, True))
    # Up for 26 h after the first, then unobserved until the second; up 26 h after it, but
    # the window ends 48 h after the second: 22 h more unobserved.
    assert result.up_seconds == 2 * 26 * 3600
    assert result.unobserved_seconds == (8 * 24 - 26 + 22) * 3600
    assert result.percent == pytest.approx(52 * 100 / (10 * 24))
    assert [s[0] for s in states(result)] == [UNOBSERVED, UP, UNOBSERVED, UP, UNOBSERVED]


def test_an_observation_before_the_window_carries_in_up_to_the_maximum_gap():
    start = END - 30 * DAY
    result = compute((start - 20 * HOUR, False), (start + 3 * DAY, True))
    assert result.start == start  # watched before the window: the whole window counts
    assert states(result)[:2] == [(DOWN, start, start + 6 * HOUR),
                                  (UNOBSERVED, start + 6 * HOUR, start + 3 * DAY)]


def test_an_observation_older_than_the_window_and_the_gap_reaches_nothing():
    start = END - 30 * DAY
    result = compute((start - 27 * HOUR, True), (start + DAY, True))
    assert states(result)[0] == (UNOBSERVED, start, start + DAY)
    assert result.start == start and result.unobserved_seconds >= 24 * 3600


def test_observations_after_the_end_are_ignored_and_a_tie_counts_as_down():
    result = compute((END - 2 * HOUR, True), (END - 2 * HOUR, False), (END + HOUR, True))
    assert result.down_seconds == 2 * 3600 and result.up_seconds == 0


def test_99_5_percent_is_the_line():
    thirty = 30 * 24 * 3600
    allowed = thirty * 0.005  # 3.6 hours in 30 days
    at_line = compute((END - 30 * DAY, False), (END - 30 * DAY + timedelta(seconds=allowed), True),
                      *[(END - n * DAY, True) for n in range(29, -1, -1)])
    assert at_line.percent == pytest.approx(99.5) and at_line.meets_standard
    over = compute((END - 30 * DAY, False),
                   (END - 30 * DAY + timedelta(seconds=allowed + 60), True),
                   *[(END - n * DAY, True) for n in range(29, -1, -1)])
    assert not over.meets_standard


def test_the_chart_covers_the_window():
    rects = uptime.chart(compute((END - 3 * DAY, True), (END - 2 * DAY, False), (END - DAY, True)))
    assert [r["state"] for r in rects] == [UNOBSERVED, UP, DOWN, UP]
    assert sum(r["width"] for r in rects) == pytest.approx(uptime.CHART_WIDTH, abs=0.1)
    assert rects[0]["x"] == 0


# From the stored checks.

def test_uptime_from_checks_uses_the_service_and_height_verdicts(db):
    node = Node.objects.create(name="validator-1")
    other = Node.objects.create(name="validator-2")

    def run(at, **statuses):
        r = CheckRun.objects.create(trigger=CheckRun.SCHEDULE)
        for kind, status in statuses.items():
            NodeCheck.objects.create(run=r, node=node, kind=kind, status=status, checked_at=at)

    run(END - 3 * DAY, service="pass", height="pass", disk="fail")  # disk does not make it down
    run(END - 2 * DAY, service="pass", height="fail")  # running but stalled: down
    run(END - DAY, service="unknown", height="unknown")  # nothing observed
    run(END - 12 * HOUR, service="pass", height="unknown")  # up
    result = uptime.for_nodes([node.id, other.id], END)
    assert states(result[node.id])[1:] == [
        (UP, END - 3 * DAY, END - 2 * DAY), (DOWN, END - 2 * DAY, END - 2 * DAY + GAP),
        (UNOBSERVED, END - 2 * DAY + GAP, END - 12 * HOUR), (UP, END - 12 * HOUR, END)]
    assert result[other.id].percent is None


def test_another_source_such_as_alert_history_adds_observations(db, monkeypatch):
    node = Node.objects.create(name="validator-1")

    def alerts(node_ids, since, until):
        return {node.id: [Observation(END - 2 * HOUR, False, "alerts"),
                          Observation(END - HOUR, True, "alerts")]}

    monkeypatch.setattr(uptime, "SOURCES", [uptime.from_checks, alerts])
    assert uptime.for_nodes([node.id], END)[node.id].down_seconds == 3600


def _alert(node, name, starts_at, ends_at=None, fingerprint="f1"):
    group, _ = AlertGroup.objects.get_or_create(key_hash=AlertGroup.hash_key("g"), group_key="g")
    status = Alert.RESOLVED if ends_at else Alert.FIRING
    return Alert.objects.create(group=group, fingerprint=fingerprint, starts_at=starts_at,
                                ends_at=ends_at, status=status, alertname=name, node=node,
                                labels={"alertname": name})


def test_a_node_down_alert_counts_as_down_from_its_start_until_it_is_resolved(db):
    node = Node.objects.create(name="validator-1")
    run = CheckRun.objects.create(trigger=CheckRun.SCHEDULE)
    for kind in ("service", "height"):
        NodeCheck.objects.create(run=run, node=node, kind=kind, status="pass",
                                 checked_at=END - 10 * HOUR)
    _alert(node, "BlockProductionStalled", END - 3 * HOUR, END - 2 * HOUR)
    # A full disk is a warning, not an outage: it does not make the node down.
    _alert(node, "DiskAlmostFull", END - 5 * HOUR, fingerprint="f2")
    result = uptime.for_nodes([node.id], END)[node.id]
    assert states(result)[1:] == [(UP, END - 10 * HOUR, END - 3 * HOUR),
                                  (DOWN, END - 3 * HOUR, END - 2 * HOUR), (UP, END - 2 * HOUR, END)]
    assert result.down_seconds == 3600


def test_a_node_down_alert_still_firing_holds_down_and_one_before_the_window_starts_at_it(db):
    node = Node.objects.create(name="validator-1")
    _alert(node, "ServiceRestartLoop", END - 40 * DAY)  # firing since before the window
    observed = uptime.from_alerts([node.id], END - 31 * DAY, END)
    assert observed[node.id] == [Observation(END - 31 * DAY, False, "alerts")]
    _alert(node, "BlockProductionStalled", END - 2 * HOUR, fingerprint="f2")
    assert states(uptime.for_nodes([node.id], END)[node.id])[-1] == (DOWN, END - 2 * HOUR, END)
