"""qpgov's own metrics: the /metrics endpoint, who may read it, and what it is built from.

Two kinds of metric, kept apart on purpose:

- Domain metrics (open incidents, time to containment, proposals in review...)
  are derived from the database at scrape time by collectors that each app
  registers with `register()` from its AppConfig.ready(). The database is the
  truth, so every gunicorn worker answers the same thing and nothing has to be
  shared between processes. Each metric family costs one aggregate query.
- Request metrics (HTTP requests, database queries per view) are counted as
  they happen by RequestMetricsMiddleware. Under gunicorn they live in
  PROMETHEUS_MULTIPROC_DIR, which every worker writes and the worker answering
  the scrape adds up (deploy/gunicorn.conf.py cleans the folder).

Access: an allowed client address or the bearer token; with neither configured
the endpoint does not exist (404). See docs/operations.md, "Monitoring qpgov itself".

An app adds its metrics in its own metrics.py and registers them in ready():

    class AlertsCollector:
        def collect(self):
            counts = dict(Alert.objects.order_by().values_list("state").annotate(n=Count("pk")))
            yield gauge_by_label("qpgov_alerts", "Alerts received, by state.", "state", counts)

    metrics.register("alerts", AlertsCollector())
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.db import connection
from django.db.models import Count, DurationField, Expression, ExpressionWrapper, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

log = logging.getLogger(__name__)

# --- the hook through which apps contribute metrics -------------------------

# A collector is anything with a `collect()` that yields metric families
# (prometheus_client's custom-collector protocol). Keyed by name, so a ready()
# that runs twice replaces rather than doubles.
_collectors: dict[str, object] = {}


def register(name: str, collector) -> None:
    """Add `collector` to every scrape under `name` (shown in qpgov_metrics_collector_up)."""
    _collectors[name] = collector


def registered() -> dict[str, object]:
    return dict(_collectors)


def gauge_by_label(name: str, documentation: str, label: str, counts: dict[str, int],
                   known: Iterable[str] = ()) -> GaugeMetricFamily:
    """One gauge per label value; every `known` value is present, at 0 when it has no rows."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value in sorted(set(known) | set(counts)):
        family.add_metric([value], counts.get(value, 0))
    return family


def duration_histogram(name: str, documentation: str, queryset: QuerySet, duration: Expression,
                       labels: Sequence[str], buckets: Sequence[float],
                       label_names: Sequence[str] | None = None) -> HistogramMetricFamily:
    """A histogram of `duration` over the rows of `queryset`, in one aggregate query.

    Each bucket is a filtered COUNT, the sum a SUM, grouped by the `labels`
    fields (exposed as `label_names`, by default the same); the database does
    the work and one scrape costs one query, whatever the number of rows.
    `buckets` are upper bounds in seconds, ascending, without +Inf.
    """
    qs = queryset.annotate(_duration=ExpressionWrapper(duration, output_field=DurationField()))
    aggregates = {f"le_{i}": Count("pk", filter=Q(_duration__lte=timedelta(seconds=bound)))
                  for i, bound in enumerate(buckets)}
    rows = (qs.order_by().values(*labels)
            .annotate(_count=Count("pk"), _sum=Sum("_duration"), **aggregates))
    family = HistogramMetricFamily(name, documentation, labels=list(label_names or labels))
    for row in sorted(rows, key=lambda r: [str(r[label]) for label in labels]):
        cumulative = [(floatToGoString(b), row[f"le_{i}"]) for i, b in enumerate(buckets)]
        cumulative.append(("+Inf", row["_count"]))
        total = row["_sum"].total_seconds() if row["_sum"] is not None else 0.0
        family.add_metric([str(row[label]) for label in labels], cumulative, total)
    return family


class _Guarded:
    """Runs every registered collector; one that fails loses its families, not the scrape."""

    def __init__(self, collectors: dict[str, object]):
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("qpgov_metrics_collector_up",
                               "1 if the collector answered this scrape, 0 if it failed.",
                               labels=["collector"])
        for name, collector in sorted(self.collectors.items()):
            try:
                families = list(collector.collect())
            except Exception:
                log.exception("metrics collector %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


# --- Celery queue depth, read from the broker --------------------------------


class CeleryQueueCollector:
    """Messages waiting in each Celery queue: LLEN on Redis, files in the folder for filesystem://.

    Queue depth is only known to the broker, so this one asks it (with a short
    timeout); when it cannot, the collector reports itself down instead of failing.
    """

    def __init__(self, queues: Sequence[str] | None = None):
        self.queues = queues  # None: the queues Celery is configured with

    def collect(self) -> Iterable[Metric]:
        from qpgov.celery import app

        # The default queue, any declared ones, and those tasks are routed to (incident
        # steps). Celery's router swaps a route's queue name for its Queue in place.
        routed = {getattr(r.get("queue"), "name", r.get("queue"))
                  for r in (app.conf.task_routes or {}).values() if isinstance(r, dict)} - {None}
        queues = sorted(self.queues or {app.conf.task_default_queue,
                                        *(q.name for q in app.conf.task_queues or ()), *routed})
        url = settings.CELERY_BROKER_URL
        scheme = urlsplit(url).scheme
        if scheme == "filesystem":
            depths = self._filesystem(queues)
        elif scheme in ("redis", "rediss"):
            depths = self._redis(url, queues)
        else:
            raise ValueError(f"queue depth is not implemented for the {scheme} broker")
        family = GaugeMetricFamily("qpgov_celery_queue_length",
                                   "Messages waiting in the Celery queue (not yet taken by a worker).",
                                   labels=["queue"])
        for queue in queues:
            family.add_metric([queue], depths[queue])
        yield family

    @staticmethod
    def _filesystem(queues: list[str]) -> dict[str, int]:
        # kombu's filesystem transport writes one file per message, named
        # "<stamp>_<uuid>.<queue>.msg", into data_folder_in.
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        depths = dict.fromkeys(queues, 0)
        for entry in os.scandir(folder):
            queue = entry.name.partition(".")[2].removesuffix(".msg")
            if queue in depths and entry.name.endswith(".msg"):
                depths[queue] += 1
        return depths

    @staticmethod
    def _redis(url: str, queues: list[str]) -> dict[str, int]:
        import redis

        # kombu keeps a queue in one Redis list per priority step: the queue's
        # own name for priority 0, "<queue>\x06\x16<step>" for the others.
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        steps = options.get("priority_steps", [0, 3, 6, 9])
        prefix = options.get("global_keyprefix", "")
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                for step in steps:
                    pipe.llen(prefix + (f"{queue}\x06\x16{step}" if step else queue))
            lengths = iter(pipe.execute())
        finally:
            client.close()
        return {queue: sum(next(lengths) for _ in steps) for queue in queues}


register("celery_broker", CeleryQueueCollector())


class CheckpointCollector:
    """How fresh the event log's signed checkpoint is: its age and the events it does not cover.

    A beat task signs the chain head every few minutes (qpgov.checkpoints); an age
    that keeps growing while events do means signing has stopped, and with it the
    evidence that the log was not rewritten since. Only rows whose signature
    verifies count: a forged row must not make signing look fresh.
    """

    def collect(self) -> Iterable[Metric]:
        from . import checkpoints
        from .models import ChainHead, Checkpoint

        key = checkpoints.configured_verifier_key()
        signed = checkpoints.latest_signed(key)
        latest = (signed.signed_at, signed.size) if signed else None
        head = ChainHead.objects.values_list("seq", flat=True).first() or 0
        newest = Checkpoint.objects.order_by("-number").first()
        forged = GaugeMetricFamily(
            "qpgov_checkpoint_forged",
            "1 when the newest stored checkpoint is not signed by this log's key (signing has stopped).")
        if key is not None:
            forged.add_metric([], int(newest is not None and newest != signed))
        age = GaugeMetricFamily(
            "qpgov_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint of the event log (absent before the first).")
        unsigned = GaugeMetricFamily(
            "qpgov_event_log_unsigned_events",
            "Events appended after the latest signed checkpoint (all of them before the first).")
        if latest:
            age.add_metric([], (timezone.now() - latest[0]).total_seconds())
        unsigned.add_metric([], head - (latest[1] if latest else 0))
        yield age
        yield unsigned
        yield forged


register("checkpoints", CheckpointCollector())


# --- request metrics, counted as they happen ---------------------------------

# The *_created series would double the number of series for a timestamp no
# one graphs, and multiprocess mode leaves them out anyway: one output either way.
disable_created_metrics()

HTTP_REQUESTS = Counter("qpgov_http_requests", "HTTP requests answered, by view, method and status.",
                        ["view", "method", "status"])
HTTP_DURATION = Histogram("qpgov_http_request_duration_seconds",
                          "Time from the first middleware to the response, by view.", ["view"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DB_QUERIES = Counter("qpgov_db_queries", "Database queries run while answering requests, by view.",
                     ["view"])
DB_QUERY_DURATION = Histogram("qpgov_db_query_duration_seconds",
                              "Time of one database query run while answering a request, by view.",
                              ["view"],
                              buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts requests by view and status, and the database queries each view ran.

    The view label is the URL name ("incidents:detail"), never the path, so
    the number of series is bounded by the URL configuration.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        timings: list[float] = []

        def timed(execute, sql, params, many, context):
            query_started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timings.append(time.perf_counter() - query_started)

        with connection.execute_wrapper(timed):
            response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unresolved"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(view).observe(time.perf_counter() - started)
        if timings:
            DB_QUERIES.labels(view).inc(len(timings))
            histogram = DB_QUERY_DURATION.labels(view)
            for seconds in timings:
                histogram.observe(seconds)
        return response


# --- the endpoint -------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _ThisProcess:
    """prometheus_client's default registry: this process's counters, CPU and memory."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition() -> bytes:
    """The text every scrape returns: request metrics plus the registered collectors."""
    # auto_describe stays off: with it, register() would collect once more
    # just to learn the names, and every database family would be queried twice.
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(_Guarded(registered()))
    return generate_latest(registry)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.QPGOV_METRICS_ALLOWED_ADDRESSES]


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def _token_matches(request: HttpRequest) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = settings.QPGOV_METRICS_TOKEN
    # compare_digest takes as long for a near miss as for a wild guess.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    )


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition, for an allowed address or the bearer token."""
    token = settings.QPGOV_METRICS_TOKEN
    if not token and not settings.QPGOV_METRICS_ALLOWED_ADDRESSES:
        raise Http404("metrics are not configured")
    if not _address_allowed(request):
        if not token:
            return HttpResponse("this address may not read the metrics\n", status=403,
                                content_type="text/plain")
        if not _token_matches(request):
            response = HttpResponse("a valid bearer token is required\n", status=401,
                                    content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="qpgov metrics"'
            return response
    # The classic text format (0.0.4), which every Prometheus 2 and 3 reads;
    # all our names are plain ASCII, so the newer format would add nothing.
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


# --- system checks ------------------------------------------------------------

MIN_TOKEN_LENGTH = 32


@checks.register(checks.Tags.security)
def check_metrics_allow_list(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A malformed allow-list would make every scrape fail; `check` and `migrate` refuse it."""
    try:
        _allowed_networks()
    except ValueError as exc:
        return [checks.Error(f"QPGOV_METRICS_ALLOWED_ADDRESSES is not a list of addresses: {exc}",
                             id="qpgov.E110")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_metrics_access(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Warn when /metrics is closed by omission, guarded by a short token, or open to the proxy."""
    messages = []
    token = settings.QPGOV_METRICS_TOKEN
    try:
        networks = _allowed_networks()
    except ValueError:
        return messages  # reported by check_metrics_allow_list
    if settings.DEV:
        return messages
    if not token and not networks:
        messages.append(checks.Warning(
            "/metrics is off: neither QPGOV_METRICS_TOKEN nor QPGOV_METRICS_ALLOWED_ADDRESSES is set.",
            hint="Set QPGOV_METRICS_TOKEN to a long random value and give it to Prometheus "
                 "(docs/operations.md, Monitoring qpgov itself).",
            id="qpgov.W110",
        ))
    if token and len(token) < MIN_TOKEN_LENGTH:
        messages.append(checks.Warning(
            f"QPGOV_METRICS_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
            hint="Use e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
            id="qpgov.W111",
        ))
    if any(network.is_loopback for network in networks):
        messages.append(checks.Warning(
            "QPGOV_METRICS_ALLOWED_ADDRESSES includes a loopback address.",
            hint="Behind the reverse proxy every request comes from the proxy, usually on "
                 "loopback, so this lets anyone on the internet read /metrics. Use the token.",
            id="qpgov.W112",
        ))
    return messages
