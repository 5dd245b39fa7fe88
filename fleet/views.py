"""The fleet pages: every node with its checks and uptime, and the node registry Core Ops keep."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from qpgov import roles
from qpgov.models import Event

from . import overview, registry, uptime
from .forms import NodeForm
from .models import CheckRun, Node
from .tasks import start_run

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
        for event in (Event.objects.for_subject(node) if node else [])
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
