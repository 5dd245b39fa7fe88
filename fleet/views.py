"""The fleet pages (nodes, checks, uptime, the registry), the alert pages and Alertmanager's webhook."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from qpgov import roles
from qpgov.dispatch import send_on_commit
from qpgov.models import Event

from . import alerts, overview, registry, tasks, uptime
from .forms import NodeForm
from .models import (
    Alert,
    AlertDelivery,
    AlertGroup,
    AlertReceiver,
    AlertRule,
    CheckRun,
    MonitoringSilence,
    Node,
)
from .tasks import start_run

# --- Alerts -------------------------------------------------------------------------------


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _refuse(status: int, message: str, **headers) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers=headers)


@csrf_exempt
@require_POST
def alertmanager_webhook(request: HttpRequest) -> HttpResponse:
    """Alertmanager's webhook: check the token and the payload, save the body, answer at once.

    4xx only for a bad token (401), a body over the limit (413) or one that is not a
    version 4 payload (400): Alertmanager does not retry those. Processing is a task.
    """
    receiver = AlertReceiver.for_token(_bearer_token(request))
    if receiver is None:
        return _refuse(401, "A valid bearer token for an active alert receiver is required.",
                       **{"WWW-Authenticate": 'Bearer realm="qpgov alerts", error="invalid_token"'})
    limit = settings.QPGOV_ALERT_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_big = f"The body is larger than the limit of {limit:,} bytes (QPGOV_ALERT_MAX_BODY_BYTES)."
    if length > limit:
        return _refuse(413, too_big)
    # Read the stream ourselves: request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE,
    # the limit for forms, which is far too small for a large alert group.
    body = request.read(limit + 1)
    if len(body) > limit:
        return _refuse(413, too_big)
    try:
        alerts.check_payload(body)
    except alerts.PayloadError as exc:
        return _refuse(400, str(exc))
    delivery = AlertDelivery.receive(receiver, body)
    send_on_commit(tasks.process_alert_delivery, delivery.id)
    return JsonResponse({"status": "accepted", "delivery": delivery.id})


ALERTS_PAGE_SIZE = 25
GROUP_ALERTS_SHOWN = 200


@require_safe
@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "view_alerts")
    groups = AlertGroup.objects.annotate(
        firing=Count("alerts", filter=Q(alerts__status=Alert.FIRING)),
        total=Count("alerts"),
    ).prefetch_related("incidents").order_by("-last_received_at", "-id")
    page = Paginator(groups, ALERTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "fleet/alerts.html", {
        "page": page, "groups": page.object_list,
        "silence": MonitoringSilence.objects.filter(open=True).first(),
        "watchdog_last_heard": tasks.watchdog_last_heard(),
        "watchdog_name": settings.QPGOV_ALERT_WATCHDOG_NAME,
        "waiting": AlertDelivery.objects.filter(
            status__in=[AlertDelivery.RECEIVED, AlertDelivery.PROCESSING]).count(),
        "failed": AlertDelivery.objects.filter(status=AlertDelivery.FAILED).order_by("-id")[:10],
    })


@require_safe
@login_required
def alert_group(request: HttpRequest, group_id: int) -> HttpResponse:
    roles.require(request.user, "view_alerts")
    group = get_object_or_404(AlertGroup, id=group_id)
    alerts_qs = group.alerts.select_related("node").order_by("status", "-starts_at", "id")
    incidents = list(group.incidents.all())
    open_incidents = [i for i in incidents if i.state not in ("resolved", "postmortem_drafted")]
    # Every rule for these alertnames, whatever its scope: which one applies depends on each alert's node.
    rules = AlertRule.objects.filter(alertname__in=group.alerts.values("alertname"))
    firing_count = group.alerts.filter(status=Alert.FIRING).count()
    return render(request, "fleet/alert_group.html", {
        "group": group,
        "alerts": alerts_qs[:GROUP_ALERTS_SHOWN],
        "alert_count": group.alerts.count(),
        "firing_count": firing_count,
        "shown": GROUP_ALERTS_SHOWN,
        "incidents": incidents,
        "open_incidents": open_incidents,
        "rules": rules,
        "deliveries": group.deliveries.order_by("-id")[:20],
        # Nothing firing any more: nothing to declare from (the worker clears the mark too).
        "can_declare": (group.awaiting_confirmation and firing_count and not open_incidents
                        and roles.can(request.user, "declare_incident")),
    })


HISTORY_PAGE_SIZE = 50


@require_safe
@login_required
def node_list(request: HttpRequest) -> HttpResponse:
    """The fleet page: every node with its latest checks, uptime, state and open incidents."""
    roles.require(request.user, "view_fleet")
    rows = overview.fleet_rows(Node.objects.all(), timezone.now())
    return render(request, "fleet/nodes.html", {"rows": rows, "chart": _chart_size()})


@require_safe
@login_required
def node_detail(request: HttpRequest, node_id: int) -> HttpResponse:
    """One node: its standard, uptime and the history of its checks, newest first."""
    roles.require(request.user, "view_fleet")
    rows = overview.fleet_rows(Node.objects.filter(id=node_id), timezone.now())
    if not rows:
        raise Http404("No such node.")
    row = rows[0]
    node = row.node
    history = node.checks.select_related("run").order_by("-checked_at", "kind")
    page = Paginator(history, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "fleet/node.html", {"node": node, "row": row, "page": page,
                                               "chart": _chart_size()})


@require_POST
@login_required
def run_node_checks(request: HttpRequest, node_id: int | None = None) -> HttpResponse:
    """Start a check run now, on one node or on all of them."""
    roles.require(request.user, "run_node_checks")
    nodes = Node.objects.filter(id=node_id) if node_id else Node.objects.all()
    if node_id:
        get_object_or_404(Node, id=node_id)
    elif not nodes.exists():
        messages.error(request, "No nodes are registered: there is nothing to check.")
        return redirect("fleet:nodes")
    start_run(nodes, CheckRun.DEMAND, requested_by=request.user)
    messages.success(request, "Checks started. Reload in a moment for the readings; the block "
                              f"height is judged after {settings.QPGOV_NODE_CHECK_HEIGHT_INTERVAL} s.")
    return redirect("fleet:node", node_id) if node_id else redirect("fleet:nodes")


def _chart_size() -> dict:
    return {"width": uptime.CHART_WIDTH, "height": uptime.CHART_HEIGHT}


@login_required
def node_edit(request: HttpRequest, node_id: int | None = None) -> HttpResponse:
    roles.require(request.user, "manage_nodes")
    node = get_object_or_404(Node, id=node_id) if node_id else None
    form = NodeForm(request.POST or None, instance=node)
    if request.method == "POST" and form.is_valid():
        saved = registry.save_node(form.save(commit=False), actor=request.user)
        messages.success(request, f"Node {saved.name} saved.")
        return redirect("fleet:nodes")
    history = [
        (event, [(field, event.data.get("before", {}).get(field, ""), value)
                 for field, value in event.data.get("after", {}).items()])
        for event in (Event.objects.for_subject(node).select_related("actor") if node else [])
    ]
    return render(request, "fleet/node_form.html", {"form": form, "node": node, "history": history})


@require_POST
@login_required
def node_delete(request: HttpRequest, node_id: int) -> HttpResponse:
    roles.require(request.user, "manage_nodes")
    node = get_object_or_404(Node, id=node_id)
    registry.delete_node(node, actor=request.user)
    messages.success(request, f"Node {node.name} deleted.")
    return redirect("fleet:nodes")
