"""The daily node checks (playbook section 2): take readings through the node driver, judge them.

Each check runs one command template of the node's command set (`check_service`,
`check_height`, ...; fleet.drivers) and stores one NodeCheck row per node. The
`judge_*` functions are pure: output in, verdict out. A reading that could not
be taken or read is UNKNOWN, never PASS. The block height is judged from two
readings a run takes `QPGOV_NODE_CHECK_HEIGHT_INTERVAL` seconds apart, in its
two stages (fleet.tasks schedules the second; no worker waits in between).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from qpgov.wording import count

from .drivers import CommandResult, NodeActionError, get_check_driver
from .models import CheckRun, Node, NodeCheck

SERVICE, HEIGHT, DISK, MEMORY, TIME_SYNC = "service", "height", "disk", "memory", "time_sync"
KINDS = (SERVICE, HEIGHT, DISK, MEMORY, TIME_SYNC)
PASS, FAIL, UNKNOWN = NodeCheck.PASS, NodeCheck.FAIL, NodeCheck.UNKNOWN

RAW_CHARS = 2000

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    status: str
    note: str
    reading: dict = field(default_factory=dict)


def properties(output: str) -> dict[str, str]:
    """`Key=value` lines, as `systemctl show` and `timedatectl show` print them."""
    pairs = (line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def judge_service(output: str, previous_restarts: int | None) -> Verdict:
    """Pass while the unit is active and systemd has not restarted it since the last check."""
    values = properties(output)
    state = values.get("ActiveState")
    if not state:
        return Verdict(UNKNOWN, "no ActiveState in the output")
    restarts = int(values["NRestarts"]) if values.get("NRestarts", "").isdigit() else None
    reading = {"active_state": state, "restarts": restarts}
    if state != "active":
        return Verdict(FAIL, f"the unit is {state}", reading)
    if restarts is not None and previous_restarts is not None:
        # The counter starts again at 0 when the host reboots.
        new = restarts - previous_restarts if restarts >= previous_restarts else restarts
        reading["restarts_since_last_check"] = new
        if new > settings.QPGOV_NODE_CHECK_RESTARTS_ALLOWED:
            return Verdict(FAIL, f"active, but systemd restarted it {count(new, 'time')} since the last "
                                 "check", reading)
    return Verdict(PASS, "active" + (f", {count(restarts, 'restart')} in all" if restarts is not None
                                     else ""), reading)


def parse_height(output: str) -> int:
    """A block height: a bare number, or JSON with "height" (as a number or a string)."""
    text = output.strip()
    if re.fullmatch(r"[0-9]{1,30}", text):
        return int(text)
    value = json.loads(text)  # ValueError when it is neither
    if isinstance(value, dict):
        value = value.get("height")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,30}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("no block height in the output")


def judge_height(first: int, second: int, seconds: float) -> Verdict:
    """Pass when the second reading is higher than the first."""
    reading = {"first": first, "second": second, "seconds_apart": round(seconds, 1)}
    if second > first:
        return Verdict(PASS, f"{first} → {second} in {seconds:.0f} s", reading)
    return Verdict(FAIL, f"stalled: {first} → {second} in {seconds:.0f} s", reading)


def judge_disk(output: str) -> Verdict:
    """Pass while the data volume is used below QPGOV_NODE_CHECK_DISK_MAX_PERCENT."""
    match = re.fullmatch(r"\s*([0-9]{1,3})%\s*", output.strip().splitlines()[-1] if output.strip()
                         else "")
    if not match:
        return Verdict(UNKNOWN, "no percentage in the output")
    used = int(match.group(1))
    limit = settings.QPGOV_NODE_CHECK_DISK_MAX_PERCENT
    reading = {"used_percent": used, "limit_percent": limit}
    if used >= limit:
        return Verdict(FAIL, f"{used} % used, the standard is below {limit} %", reading)
    return Verdict(PASS, f"{used} % used", reading)


def parse_memory(output: str) -> int:
    value = properties(output).get("MemoryCurrent", "")
    if not value.isdigit():  # "[not set]" without memory accounting
        raise ValueError("no MemoryCurrent in the output")
    return int(value)


def judge_memory(current: int, earlier: list[int]) -> Verdict:
    """Fail when memory grew by more than the threshold from the oldest of the last readings.

    `earlier` are the previous readings, oldest first; the window is
    QPGOV_NODE_CHECK_MEMORY_READINGS readings including this one. With no
    earlier reading there is nothing to compare: UNKNOWN, not PASS.
    """
    window = earlier[-(settings.QPGOV_NODE_CHECK_MEMORY_READINGS - 1):] if earlier else []
    reading = {"bytes": current}
    if not window or window[0] <= 0:
        return Verdict(UNKNOWN, f"{_mib(current)}; stability is judged from the next reading",
                       reading)
    growth = (current - window[0]) * 100 / window[0]
    limit = settings.QPGOV_NODE_CHECK_MEMORY_GROWTH_PERCENT
    reading.update(baseline_bytes=window[0], readings=len(window) + 1,
                   growth_percent=round(growth, 1))
    span = f"{_mib(window[0])} → {_mib(current)} over {len(window) + 1} readings"
    if growth > limit:
        return Verdict(FAIL, f"grew {growth:.0f} % ({span}); the limit is {limit} %", reading)
    return Verdict(PASS, f"stable: {span}", reading)


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def judge_time_sync(output: str) -> Verdict:
    """Pass when the clock is synchronized and, where reported, the time-sync service is active."""
    values = properties(output)
    synced = values.get("NTPSynchronized")
    if synced not in ("yes", "no"):
        return Verdict(UNKNOWN, "no NTPSynchronized in the output")
    reading = {"synchronized": synced == "yes"}
    if "Service" in values:
        reading["service"] = values["Service"]
    if synced == "no":
        return Verdict(FAIL, "the clock is not synchronized", reading)
    if "Service" in values and values["Service"] != "active":
        return Verdict(FAIL, f"the time-sync service is {values['Service'] or 'unknown'}", reading)
    return Verdict(PASS, "synchronized", reading)


# Taking readings.

COMMANDS = {kind: f"check_{kind}" for kind in KINDS}


@dataclass
class Taken:
    """A command's traces, or why there are none."""

    result: CommandResult | None
    error: str = ""

    @property
    def output(self) -> str:
        return self.result.output.decode("utf-8", "replace") if self.result else ""


def take(driver, node: Node, kind: str) -> Taken:
    try:
        result = driver.run_check(node, COMMANDS[kind])
    except NodeActionError as exc:
        return Taken(exc.result, f"{exc.error_class}: {exc}")
    if result.exit_code != 0:
        return Taken(result, f"the command exited with {result.exit_code}")
    return Taken(result)


def record(run: CheckRun, node: Node, kind: str, taken: Taken | None, verdict: Verdict,
           extra_raw: str = "") -> NodeCheck:
    """Store (or, when a stage runs again, replace) the node's check of this kind in this run."""
    result = taken.result if taken else None
    raw = extra_raw + (taken.output if taken else "")
    check, _ = NodeCheck.objects.update_or_create(
        run=run, node=node, kind=kind,
        defaults={
            "status": verdict.status, "note": verdict.note[:300], "reading": verdict.reading,
            "raw": raw if len(raw) <= RAW_CHARS else "…" + raw[-RAW_CHARS:],
            "exit_code": result.exit_code if result else None,
            "output_sha256": result.sha256 if result else "",
            "checked_at": timezone.now(),
        },
    )
    return check


def _previous(node: Node, kind: str, run: CheckRun, count: int) -> list[dict]:
    """The readings of the node's last `count` judged checks of `kind` before this run, oldest first."""
    rows = (NodeCheck.objects.filter(node=node, kind=kind).exclude(run=run)
            .exclude(status=UNKNOWN, reading={}).order_by("-checked_at")
            .values_list("reading", flat=True)[:count])
    return list(reversed(rows))


def take_first_readings(run: CheckRun, driver=None, still_ours=lambda: True) -> None:
    """Stage one: every check of every node in the run, and the first block height.

    `still_ours()` is asked before each node; when it says no (the run's lease
    was lost to another worker) the stage stops.
    """
    driver = driver or get_check_driver()
    for node in run.nodes.all():
        if not still_ours():
            return
        for kind in KINDS:
            if kind == HEIGHT and not node.height_url and _needs_height_url(driver):
                record(run, node, kind, None, Verdict(UNKNOWN, "no block height URL registered"))
                continue
            taken = take(driver, node, kind)
            if taken.error:
                record(run, node, kind, taken, Verdict(UNKNOWN, taken.error))
                continue
            try:
                verdict = _judge_first(run, node, kind, taken.output)
            except ValueError as exc:
                verdict = Verdict(UNKNOWN, f"could not read the output: {exc}")
            except Exception as exc:  # output we did not foresee: still a reading, never a pass
                log.exception("check %s of %s: the output broke its parser", kind, node.name)
                verdict = Verdict(UNKNOWN, f"could not read the output ({type(exc).__name__})")
            record(run, node, kind, taken, verdict)


def _needs_height_url(driver) -> bool:
    return "{height_url}" in getattr(driver, "commands", {}).get(COMMANDS[HEIGHT], "{height_url}")


def _judge_first(run: CheckRun, node: Node, kind: str, output: str) -> Verdict:
    if kind == SERVICE:
        previous = _previous(node, SERVICE, run, 1)
        restarts = previous[-1].get("restarts") if previous else None
        return judge_service(output, restarts if isinstance(restarts, int) else None)
    if kind == HEIGHT:
        height = parse_height(output)
        due = timezone.now() + _height_interval()
        return Verdict(UNKNOWN, f"first reading {height}; the second is due at {due:%H:%M:%S} UTC",
                       {"first": height, "first_at": timezone.now().isoformat()})
    if kind == DISK:
        return judge_disk(output)
    if kind == MEMORY:
        earlier = [r["bytes"] for r in _previous(
            node, MEMORY, run, settings.QPGOV_NODE_CHECK_MEMORY_READINGS - 1)
            if isinstance(r.get("bytes"), int)]
        return judge_memory(parse_memory(output), earlier)
    return judge_time_sync(output)


def _height_interval() -> timedelta:
    return timedelta(seconds=settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL)


def take_second_readings(run: CheckRun, driver=None, still_ours=lambda: True) -> None:
    """Stage two: the second block height of each node whose first one was read; judge the pair."""
    driver = driver or get_check_driver()
    waiting = run.checks.filter(kind=HEIGHT).select_related("node")
    for check in waiting:
        if not still_ours():
            return
        first = check.reading.get("first")
        if not isinstance(first, int) or "second" in check.reading:
            continue  # no first reading, or already judged by an earlier try of this stage
        first_raw = f"first reading:\n{check.raw}\n--- second reading ---\n"
        taken = take(driver, check.node, HEIGHT)
        if taken.error:
            record(run, check.node, HEIGHT, taken,
                   Verdict(UNKNOWN, f"second reading failed: {taken.error}", check.reading),
                   extra_raw=first_raw)
            continue
        try:
            second = parse_height(taken.output)
        except ValueError as exc:
            verdict = Verdict(UNKNOWN, f"could not read the second reading: {exc}", check.reading)
        except Exception as exc:  # as in the first stage
            log.exception("height of %s: the output broke its parser", check.node.name)
            verdict = Verdict(UNKNOWN, f"could not read the second reading ({type(exc).__name__})",
                              check.reading)
        else:
            seconds = (timezone.now() - datetime.fromisoformat(check.reading["first_at"])
                       ).total_seconds()
            verdict = judge_height(first, second, seconds)
        record(run, check.node, HEIGHT, taken, verdict, extra_raw=first_raw)
