"""The node registry pages, for Core Ops."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from qpgov import roles
from qpgov.models import Event

from . import registry
from .forms import NodeForm
from .models import Node


@require_safe
@login_required
def node_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "manage_nodes")
    return render(request, "fleet/nodes.html", {"nodes": Node.objects.all()})


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
