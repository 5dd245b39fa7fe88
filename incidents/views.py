"""Incident pages. Views translate HTTP to incidents.services calls and back."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from qpgov import roles
from qpgov.http import Conflict
from qpgov.models import Event

from . import actions, services
from .forms import DeclareForm, NodeForm, ResolveForm, SkipForm
from .models import Evidence, Incident, Node, ResponseStep


def _get_incident(request: HttpRequest, pk: int, action: str = "view_incidents") -> Incident:
    roles.require(request.user, action)
    return get_object_or_404(Incident, pk=pk)


@require_safe
@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "view_incidents")
    incidents = Incident.objects.select_related("commander").prefetch_related("nodes")
    attention = set(Incident.objects.needing_attention().values_list("id", flat=True))
    return render(request, "incidents/list.html",
                  {"incidents": incidents, "attention": attention})


@require_safe
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk)
    now = timezone.now()
    steps = list(incident.steps.prefetch_related("tries__node"))
    # Refresh while the pipeline is moving: a step is running or queued to run.
    moving = any(s.status == ResponseStep.RUNNING or s.next_attempt_at and
                 s.status == ResponseStep.PENDING for s in steps)
    manifest = actions.latest_manifest_event(incident)
    ctx = {
        "incident": incident,
        "steps": steps,
        "now": now,
        "refresh": moving,
        "needs_attention": any(s.status == ResponseStep.NEEDS_HUMAN for s in steps),
        "events": Event.objects.for_subject(incident),
        "evidence": incident.evidence.select_related("node"),
        "manifest": manifest,
        "acknowledgements": incident.acknowledgements.select_related("user"),
        "deliveries": incident.deliveries.all(),
        "postmortem": getattr(incident, "postmortem", None),
        "nodes": incident.nodes.all(),
        "is_commander": request.user.pk == incident.commander_id,
        "has_acknowledged": incident.acknowledgements.filter(user=request.user).exists(),
        "skip_form": SkipForm(),
    }
    return render(request, "incidents/detail.html", ctx)


@login_required
def declare(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "declare_incident")
    initial = {"commander": request.user} if roles.can(request.user, "run_response") else {}
    form = DeclareForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.declare(
                title=data["title"], severity=data["severity"], nodes=data["nodes"],
                summary=data["summary"], detected_at=data["detected_at"],
                declared_by=request.user, commander=data["commander"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"INC-{incident.pk} declared; the response is queued.")
            return redirect(incident)
    return render(request, "incidents/declare.html", {"form": form})


@login_required
@require_POST
def retry_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident = _get_incident(request, pk, "run_response")
    step = services.retry_step(incident, step_id, request.user)
    messages.success(request, f"\"{step.label}\" will be tried again.")
    return redirect(incident)


@login_required
def skip_step(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    incident = _get_incident(request, pk, "run_response")
    step = get_object_or_404(ResponseStep, id=step_id, incident=incident)
    form = SkipForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.skip_step(incident, step_id, request.user, form.cleaned_data["reason"])
        messages.success(request, f"\"{step.label}\" skipped; the reason is on the timeline.")
        return redirect(incident)
    return render(request, "incidents/skip.html", {"incident": incident, "step": step,
                                                   "form": form})


@login_required
def resolve(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk, "run_response")
    if request.user.pk != incident.commander_id:
        raise PermissionDenied("Only the incident commander may resolve it.")
    if incident.state != Incident.CONTAINED:
        raise Conflict(f"The incident is {incident.get_state_display()}; it can be resolved "
                       "only once it is contained.")
    form = ResolveForm(request.POST or None, incident=incident)
    if request.method == "POST" and form.is_valid():
        services.resolve(incident, request.user, resolution=form.cleaned_data["resolution"],
                         unfreeze=form.cleaned_data["unfreeze"])
        messages.success(request, "Resolved. The post-mortem draft is being prepared.")
        return redirect(incident)
    return render(request, "incidents/resolve.html", {"incident": incident, "form": form})


@login_required
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk, "acknowledge_incident")
    if request.method == "POST":
        services.acknowledge(incident, request.user)
        messages.success(request, "Acknowledged. Thank you.")
        return redirect(incident)
    return render(request, "incidents/acknowledge.html", {"incident": incident})


@require_safe
@login_required
def download_evidence(request: HttpRequest, pk: int, evidence_id: int) -> FileResponse:
    incident = _get_incident(request, pk, "download_evidence")
    evidence = get_object_or_404(Evidence, id=evidence_id, incident=incident)
    storage = actions.evidence_storage()
    if not storage.exists(evidence.storage_name):
        raise Http404("The evidence file is missing from storage.")
    return FileResponse(storage.open(evidence.storage_name, "rb"), as_attachment=True,
                        filename=evidence.storage_name.rsplit("/", 1)[-1])


@require_safe
@login_required
def node_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "manage_nodes")
    return render(request, "incidents/nodes.html", {"nodes": Node.objects.all()})


@login_required
def node_edit(request: HttpRequest, node_id: int | None = None) -> HttpResponse:
    roles.require(request.user, "manage_nodes")
    node = get_object_or_404(Node, id=node_id) if node_id else None
    form = NodeForm(request.POST or None, instance=node)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Node {saved.name} saved.")
        return redirect("incidents:nodes")
    return render(request, "incidents/node_form.html", {"form": form, "node": node})
