"""How a response acts on a node: the driver interface and the command driver.

`get_driver()` returns the driver named by settings.QPGOV_NODE_DRIVER. The
shipped CommandDriver runs command templates from settings.QPGOV_NODE_COMMANDS,
on the worker's machine for a node without a target, or through
settings.QPGOV_SSH_COMMAND (`ssh -o BatchMode=yes {target} --`) otherwise.
Templates are split into words *before* the node's values are filled in, so a
value is always exactly one argument and never reaches a shell unquoted.
Every failure is a NodeActionError whose `error_class` is one of the names
below; the incident runbook's retry policies name them (incidents.runbook).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import string
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from . import paths

# Error classes: what a caller's retry policy decides on. Anything else that
# escapes the driver is a bug or a misconfiguration, not a node's trouble.
TIMEOUT = "Timeout"
UNREACHABLE = "Unreachable"
COMMAND_FAILED = "CommandFailed"
STILL_RUNNING = "StillRunning"
UNSAFE_VALUE = "UnsafeValue"  # never retried: the registry needs fixing
NODE_ERRORS = frozenset({TIMEOUT, UNREACHABLE, COMMAND_FAILED, STILL_RUNNING})

EXCERPT_CHARS = 4000
SSH_UNREACHABLE = 255  # what ssh exits with when it cannot connect

# Command sets. "systemd" is for real nodes; "demo" drives the small local demo
# node under fleet/demo/ (what `make run` and the tests use).
# Freeze check semantics: exit status 0 means the service is STILL running.
PRESETS: dict[str, dict[str, str]] = {
    "systemd": {
        "freeze": "systemctl stop {unit}",
        "freeze_check": "systemctl is-active {unit}",
        "unfreeze": "systemctl start {unit}",
        "logs": "journalctl -u {unit} --since {since} --no-pager -o export",
        "snapshot": "tar -C {data_dir} -cf - .",
        # Where data_dir really leads on a remote node, asked before a command that
        # receives it (the worker cannot follow the node's symlinks itself).
        "resolve": "realpath -e -- {data_dir}",
        # The daily checks (fleet.checks reads their output; see docs/fleet.md).
        "check_service": "systemctl show -p ActiveState -p NRestarts {unit}",
        "check_height": "curl -fsS --max-time 10 --max-filesize 65536 {height_url}",
        "check_disk": "df --output=pcent {data_dir}",
        "check_memory": "systemctl show -p MemoryCurrent {unit}",
        "check_time_sync": "sh -c 'timedatectl show -p NTPSynchronized; "
                           "echo \"Service=$(systemctl is-active \"$1\")\"' time-sync {time_sync}",
    },
    "demo": {
        "freeze": "sh {demo_dir}/node.sh stop {data_dir}",
        "freeze_check": "sh {demo_dir}/node.sh status {data_dir}",
        "unfreeze": "sh {demo_dir}/node.sh start {data_dir}",
        "logs": "sh {demo_dir}/node.sh logs {data_dir} {since}",
        "snapshot": "tar -C {data_dir} -cf - .",
        "resolve": "realpath -e -- {data_dir}",
        "check_service": "sh {demo_dir}/node.sh show {data_dir}",
        "check_height": "cat {data_dir}/height",
        "check_disk": "df --output=pcent {data_dir}",
        "check_memory": "sh {demo_dir}/node.sh memory {data_dir}",
        "check_time_sync": "sh {demo_dir}/node.sh timesync {data_dir}",
    },
    # A drill touches no node: every command succeeds at once. For rehearsing the
    # runbook end to end (playbook section 8: incident drill) and for benchmarks.
    "drill": {
        "freeze": "true",
        "freeze_check": "false",
        "unfreeze": "true",
        "logs": "echo drill: no logs collected",
        "snapshot": "echo drill: no snapshot taken",
        # Readings of a healthy node; the height is the clock, so it progresses.
        "check_service": "printf 'ActiveState=active\\nNRestarts=0\\n'",
        "check_height": "date +%s",
        "check_disk": "printf 'Use%%\\n  1%%\\n'",
        "check_memory": "echo MemoryCurrent=1048576",
        "check_time_sync": "echo NTPSynchronized=yes",
    },
}
# What {time_sync} names in the check commands: the systemd unit of each service.
TIME_SYNC_UNITS = {"chrony": "chronyd", "ntpd": "ntpd"}
DEMO_DIR = settings.BASE_DIR / "fleet" / "demo"


class NodeActionError(Exception):
    """A node action failed; `error_class` decides whether the runbook retries it."""

    error_class = COMMAND_FAILED

    def __init__(self, message: str, result: CommandResult | None = None):
        super().__init__(message)
        self.result = result


class CommandFailed(NodeActionError):
    error_class = COMMAND_FAILED


class Timeout(NodeActionError):
    error_class = TIMEOUT


class Unreachable(NodeActionError):
    error_class = UNREACHABLE


class StillRunning(NodeActionError):
    error_class = STILL_RUNNING


class UnsafeValue(NodeActionError):
    """A node's value that must not reach a command. Not transient: a human fixes the registry."""

    error_class = UNSAFE_VALUE


@dataclass
class CommandResult:
    argv: list[str]
    exit_code: int | None
    output: bytes  # stdout+stderr for plain commands; stderr only when stdout is evidence

    @property
    def excerpt(self) -> str:
        text = self.output.decode("utf-8", "replace")
        return text if len(text) <= EXCERPT_CHARS else "…" + text[-EXCERPT_CHARS:]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.output).hexdigest()


@dataclass
class Stream:
    """Evidence written by a command: a temporary file, its size and its SHA-256."""

    file: BinaryIO
    size: int
    sha256: str
    result: CommandResult


class NodeDriver(Protocol):
    """What the pipeline needs from a driver. Failures raise NodeActionError."""

    def freeze(self, node) -> CommandResult: ...

    def unfreeze(self, node) -> CommandResult: ...

    def collect_logs(self, node, since: datetime) -> Stream: ...

    def snapshot(self, node) -> Stream: ...

    def run_check(self, node, name: str) -> CommandResult: ...


class CommandDriver:
    """Runs the configured command templates, locally or over SSH."""

    # Commands that stream evidence may run long (a snapshot of a large data
    # directory); every other command (stop, check, start, resolve) is short, and
    # a node that does not answer one within the freeze timeout is declared hung.
    STREAMING = frozenset({"logs", "snapshot"})

    def __init__(self, commands: dict[str, str] | None = None, timeout: float | None = None,
                 freeze_timeout: float | None = None):
        preset = PRESETS[settings.QPGOV_NODE_COMMAND_SET]
        self.commands = {**preset, **(commands or settings.QPGOV_NODE_COMMANDS)}
        self.timeout = timeout or settings.QPGOV_NODE_COMMAND_TIMEOUT
        self.freeze_timeout = freeze_timeout or settings.QPGOV_NODE_FREEZE_TIMEOUT

    # The actions the pipeline calls.

    def freeze(self, node) -> CommandResult:
        """Stop the node's service and confirm it is no longer running."""
        stop = self._run(node, "freeze")
        check = self._run(node, "freeze_check", check=False)
        output = stop.output + b"\n--- check ---\n" + check.output
        result = CommandResult(stop.argv + ["&&"] + check.argv, check.exit_code, output)
        if check.exit_code == 0:
            raise StillRunning(f"{node.name}: still running after stop", result)
        return result

    def unfreeze(self, node) -> CommandResult:
        return self._run(node, "unfreeze")

    def collect_logs(self, node, since: datetime) -> Stream:
        return self._stream(node, "logs", since=since.strftime("%Y-%m-%d %H:%M:%S"))

    def snapshot(self, node) -> Stream:
        return self._stream(node, "snapshot")

    def run_check(self, node, name: str) -> CommandResult:
        """Run check command `name` and return its result whatever it exited with.

        Only what kept the command from giving a reading raises: a timeout, an
        unreachable host, a command that could not start. Judging the output is
        fleet.checks' job.
        """
        result = self._run(node, name, check=False, height_url=node.height_url,
                           time_sync=TIME_SYNC_UNITS.get(node.time_sync, node.time_sync))
        if node.target and result.exit_code == SSH_UNREACHABLE:
            raise Unreachable(f"{node.name}: ssh {node.target} failed", result)
        return result

    # Plumbing.

    def argv(self, node, name: str, **extra) -> list[str]:
        values = {"unit": node.unit, "data_dir": node.data_dir, "name": node.name,
                  "target": node.target, "demo_dir": str(DEMO_DIR), **extra}
        template = shlex.split(self.commands[name])
        ssh = shlex.split(settings.QPGOV_SSH_COMMAND) if node.target else []
        check_values(node, values, _placeholders(template + ssh))
        command = [word.format(**values) for word in template]
        if not node.target:
            return command
        # The remote side hands the command to a shell, so it travels quoted.
        return [word.format(**values) for word in ssh] + [shlex.join(command)]

    def _confine_remote(self, node, name: str) -> None:
        """Before a remote command that receives data_dir, ask the node where that path really
        leads (the "resolve" command) and refuse a path that leaves the data roots."""
        if (not node.target or name == "resolve" or not self.commands.get("resolve")
                or "data_dir" not in _placeholders(shlex.split(self.commands[name]))):
            return
        result = self._run(node, "resolve")
        # The answer is the last line; ssh may print warnings to stderr before it.
        lines = result.output.decode("utf-8", "replace").strip().splitlines()
        real = lines[-1].strip() if lines else ""
        if not real or paths.data_dir_problem(real, resolve=False):
            raise UnsafeValue(f"{node.name}: on {node.target}, {node.data_dir} resolves to "
                              f"{real or 'nothing'}, outside the node data roots", result)

    def _run(self, node, name: str, check: bool = True, stdout=None, **extra) -> CommandResult:
        argv = self.argv(node, name, **extra)
        self._confine_remote(node, name)
        timeout = self.timeout if name in self.STREAMING else self.freeze_timeout
        try:
            proc = _run_in_own_group(
                argv, stdout=stdout or subprocess.PIPE,
                stderr=subprocess.PIPE if stdout else subprocess.STDOUT, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            output = (exc.stderr if stdout else exc.stdout) or b""
            raise Timeout(f"{node.name}: {name} took longer than {timeout:g} s",
                          CommandResult(argv, None, output)) from exc
        except OSError as exc:
            raise CommandFailed(f"{node.name}: {name} could not start: {exc}",
                                CommandResult(argv, None, str(exc).encode())) from exc
        output = (proc.stderr if stdout else proc.stdout) or b""
        result = CommandResult(argv, proc.returncode, output)
        if check and proc.returncode != 0:
            if node.target and proc.returncode == SSH_UNREACHABLE:
                raise Unreachable(f"{node.name}: ssh {node.target} failed", result)
            raise CommandFailed(f"{node.name}: {name} exited with {proc.returncode}", result)
        return result

    def _stream(self, node, name: str, **extra) -> Stream:
        # stdout goes straight to a file on disk, never into memory: a snapshot
        # can be larger than the worker's RAM.
        spool = tempfile.TemporaryFile(dir=settings.QPGOV_EVIDENCE_SPOOL_DIR)  # noqa: SIM115
        try:
            result = self._run(node, name, stdout=spool, **extra)
            spool.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := spool.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return Stream(spool, size, digest.hexdigest(), result)


def _run_in_own_group(argv: list[str], stdout, stderr, timeout: float):
    """subprocess.run, except that a timeout kills every process the command started.

    subprocess.run kills only its direct child: a `sh node.sh stop` whose hung
    `systemctl` or `sleep` was not exec'd would keep running (and holding the
    node) after the step gave up on it. The command gets its own session, hence
    its own process group, and a timeout kills the whole group. A process the
    command left running on purpose (a service it started) is untouched when
    the command ends in time.
    """
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # the timeout, or the worker being interrupted
            _kill_group(proc.pid)
            proc.wait()
            raise  # a TimeoutExpired carries the output read so far
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the group's id is its leader's pid
    except ProcessLookupError:
        pass  # every process of the group had ended already


def _placeholders(words: list[str]) -> set[str]:
    return {field for word in words for _, field, _, _ in string.Formatter().parse(word) if field}


def check_values(node, values: dict[str, str], used: set[str]) -> None:
    """Refuse, right before a command runs, any value it would receive that could act as an
    option or point outside the node data roots, whatever the registry was told."""
    for field in sorted(used):
        if str(values.get(field, "")).startswith("-"):
            raise UnsafeValue(f"{node.name}: {field} starts with '-' and would be read as an option")
    if node.target and ":" in node.target:
        raise UnsafeValue(f"{node.name}: the target {node.target} names a port; ssh would take it "
                          "as part of the host name (give the port in ~/.ssh/config)")
    if "data_dir" in used:
        # Symlinks are followed for a node on this machine; a remote node's are out of sight.
        if problem := paths.data_dir_problem(node.data_dir, resolve=not node.target):
            raise UnsafeValue(f"{node.name}: {problem}")


def get_driver() -> NodeDriver:
    return import_string(settings.QPGOV_NODE_DRIVER)()


def get_check_driver() -> NodeDriver:
    """The same driver, with the checks' timeout for every command it runs.

    Drivers take `timeout` (streaming commands) and `freeze_timeout` (the short
    ones); a check's commands are short and streaming alike get the check timeout.
    """
    timeout = settings.QPGOV_NODE_CHECK_TIMEOUT
    return import_string(settings.QPGOV_NODE_DRIVER)(timeout=timeout, freeze_timeout=timeout)
