"""Incident pages. Views translate HTTP to incidents.services calls and back."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.syndication.views import Feed
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import http_date, quote_etag
from django.views.decorators.http import require_POST, require_safe

from qpgov import pagecache, roles
from qpgov.http import Conflict, ready_to_act, refusal, refusal_kept_in, refused_status
from qpgov.models import Event

from . import actions, alerts, feeds, notices, postmortems, services
from .forms import (
    AmendmentForm,
    DeclareForm,
    NoticeForm,
    PostmortemForm,
    PublishForm,
    ResolveForm,
    SendBackForm,
    SkipForm,
)
from .models import Amendment, Evidence, Incident, Notice, Postmortem, ResponseStep

PAGE_SIZE = 25


def _get_incident(request: HttpRequest, pk: int, action: str = "view_incidents") -> Incident:
    roles.require(request.user, action)
    return get_object_or_404(Incident, pk=pk)


@require_safe
@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "view_incidents")
    incidents = Incident.objects.select_related("commander", "postmortem").prefetch_related("nodes")
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    # Only the incidents on this page: the flag is per row, not per table.
    attention = set(Incident.objects.needing_attention()
                    .filter(id__in=[i.id for i in page.object_list]).values_list("id", flat=True))
    return render(request, "incidents/list.html",
                  {"incidents": page.object_list, "page": page, "attention": attention})


def _live_context(request: HttpRequest, incident: Incident) -> dict:
    """What the parts of the incident page that change while steps run need."""
    now = timezone.now()
    steps = list(incident.steps.prefetch_related("tries__node"))
    # Poll while the pipeline is moving: a step is running or queued to run.
    moving = any(s.status == ResponseStep.RUNNING or s.next_attempt_at and
                 s.status == ResponseStep.PENDING for s in steps)
    current = next((s for s in steps if s.status in (ResponseStep.RUNNING, ResponseStep.PENDING)
                    and (s.status == ResponseStep.RUNNING or s.next_attempt_at)), None)
    for step in steps:
        step.waiting_for_worker = step.is_waiting_for_worker(now)
    return {
        "incident": incident,
        "steps": steps,
        "now": now,
        "moving": moving,
        "steps_done": sum(s.status in ResponseStep.DONE for s in steps),
        "current_step": current,
        "needs_attention": any(s.status == ResponseStep.NEEDS_HUMAN for s in steps),
        "events": Event.objects.for_subject(incident).select_related("actor"),
        "evidence": incident.evidence.select_related("node"),
        "manifest": actions.latest_manifest_event(incident),
        "acknowledgements": incident.acknowledgements.select_related("user"),
        "deliveries": incident.deliveries.all(),
        "postmortem": getattr(incident, "postmortem", None),
        "nodes": incident.members.select_related("node").order_by("name"),
        "alert_groups": incident.alert_groups.all(),
        "is_commander": request.user.pk == incident.commander_id,
        "has_acknowledged": incident.acknowledgements.filter(user=request.user).exists(),
        "notices": incident.notices.select_related("author", "published_by"),
        "notice_form": NoticeForm(),
    }


@require_safe
@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk)
    return render(request, "incidents/detail.html", _live_context(request, incident))


@require_safe
@login_required
def live(request: HttpRequest, pk: int) -> HttpResponse:
    """The parts of the incident page that move, for static/js/incident-live.js to swap in."""
    incident = _get_incident(request, pk)
    response = render(request, "incidents/_live.html", _live_context(request, incident))
    response["Cache-Control"] = "no-store"
    return response


@login_required
def declare(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, "declare_incident")
    initial = {"commander": request.user} if roles.can(request.user, "run_response") else {}
    if request.method != "POST" and request.GET.get("alert_group"):
        initial.update(alerts.declare_initial(request.GET["alert_group"]))
    form = DeclareForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.declare(
                title=data["title"], severity=data["severity"], nodes=data["nodes"],
                summary=data["summary"], detected_at=data["detected_at"],
                declared_by=request.user, commander=data["commander"], drill=data["drill"],
                alert_groups=[data["alert_group"]] if data["alert_group"] else (),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except Conflict as exc:
            # The alert group has its incident already (a double submit, or the worker's
            # automatic declare came first): say which, keep what was typed.
            messages.error(request, refusal(str(exc), exc.links))
            return render(request, "incidents/declare.html", {"form": form}, status=409)
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
        with refusal_kept_in(form):
            services.skip_step(incident, step_id, request.user, form.cleaned_data["reason"])
            messages.success(request, f"\"{step.label}\" skipped; the reason is on the timeline.")
            return redirect(incident)
    return render(request, "incidents/skip.html", {"incident": incident, "step": step,
                                                   "form": form}, status=refused_status(form))


@login_required
def resolve(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk, "run_response")
    if request.user.pk != incident.commander_id:
        raise PermissionDenied("Only the incident commander may resolve it.")
    blocked = None if incident.state == Incident.CONTAINED else Conflict(
        f"The incident is {incident.stage}; it can be resolved only once it is contained.",
        links=[("See the response steps", incident.get_absolute_url() + "#incident-steps")])
    form = ResolveForm(request.POST or None, incident=incident)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            services.resolve(incident, request.user, resolution=form.cleaned_data["resolution"],
                             unfreeze=form.cleaned_data["unfreeze"])
            messages.success(request, "Resolved. The post-mortem draft is being prepared.")
            return redirect(incident)
    return render(request, "incidents/resolve.html", {"incident": incident, "form": form},
                  status=refused_status(form))


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


# --- post-mortems: writing and review (signed in) ------------------------------------


def _get_document(request: HttpRequest, pk: int, amendment_id: int | None = None,
                  action: str = "view_incidents") -> Postmortem | Amendment:
    """The post-mortem of incident `pk`, or one of its amendments, for someone allowed `action`."""
    roles.require(request.user, action)
    if amendment_id is None:
        return get_object_or_404(Postmortem.objects.select_related("incident"), incident_id=pk)
    return get_object_or_404(Amendment.objects.select_related("postmortem__incident"),
                             pk=amendment_id, postmortem__incident_id=pk)


def _document_page(request: HttpRequest, doc, *, form=None, publish_form=None,
                   send_back_form=None, status: int = 200) -> HttpResponse:
    pm = doc if isinstance(doc, Postmortem) else doc.postmortem
    user = request.user
    is_author = user.pk in postmortems.authors(doc)
    can_edit = roles.can(user, "edit_postmortem") and doc.state == doc.DRAFT
    refused = form is not None and getattr(form, "refused", None) is not None
    can_review = (roles.can(user, "approve_postmortem") and not is_author
                  and doc.state == doc.IN_REVIEW)
    if can_edit and form is None:
        initial = {"body": doc.body, "internal_notes": doc.internal_notes,
                   "base_version": postmortems.draft_version(doc)}
        if isinstance(doc, Postmortem):
            form = PostmortemForm(initial={**initial, "title": doc.title})
        else:
            form = AmendmentForm(initial=initial)
    ctx = {
        "doc": doc,
        "pm": pm,
        "incident": pm.incident,
        "is_amendment": isinstance(doc, Amendment),
        "report": postmortems.review(doc),
        "required_sections": postmortems.REQUIRED_SECTIONS,
        "events": Event.objects.for_subject(doc).select_related("actor"),
        "amendments": pm.amendments.select_related("author") if doc is pm else None,
        # A refused save shows the typed text again even when the draft can no longer
        # be edited (submitted meanwhile): it is the only copy of it.
        "form": form if can_edit or refused else None,
        "refused": refused,
        "can_edit": can_edit,
        "can_review": can_review,
        "is_author": is_author,
        "can_amend": doc is pm and pm.state == pm.PUBLISHED and roles.can(user, "edit_postmortem"),
        "publish_form": publish_form or PublishForm(),
        "send_back_form": send_back_form or SendBackForm(),
        "error_forms": [f for f in (form, publish_form, send_back_form) if f is not None],
    }
    return render(request, "incidents/postmortem.html", ctx, status=status)


@login_required
def postmortem(request: HttpRequest, pk: int, amendment_id: int | None = None) -> HttpResponse:
    doc = _get_document(request, pk, amendment_id)
    if request.method != "POST":
        return _document_page(request, doc)
    return _save_text(request, doc, submit=request.POST.get("action") == "submit")


@login_required
@require_POST
def postmortem_submit(request: HttpRequest, pk: int, amendment_id: int | None = None):
    doc = _get_document(request, pk, amendment_id, "edit_postmortem")
    return _save_text(request, doc, submit=True)


def _save_text(request: HttpRequest, doc, *, submit: bool) -> HttpResponse:
    """Store the posted text, then submit it if asked: one step, so no typed text is lost.

    A submit without any text fields (an older page, a script) sends the stored text.
    """
    roles.require(request.user, "edit_postmortem")
    form_class = AmendmentForm if isinstance(doc, Amendment) else PostmortemForm
    if "body" in request.POST or not submit:
        form = form_class(request.POST)
        if not form.is_valid():
            return _document_page(request, doc, form=form, status=400)
        fields = {k: v for k, v in form.cleaned_data.items() if k != "base_version"}
        with refusal_kept_in(form):
            postmortems.require_state(doc, doc.DRAFT, "submitted" if submit else "edited")
            base = form.cleaned_data["base_version"]
            # Unchanged text is not saved again, unless the page was older than the
            # draft: then save_draft refuses, rather than submit text never seen.
            if (any(getattr(doc, k) != v for k, v in fields.items())
                    or base and base != postmortems.draft_version(doc)):
                doc = postmortems.save_draft(doc, request.user, base_version=base, **fields)
        if getattr(form, "refused", None):
            # The page shows the text as it is now beside what was typed; a second
            # save is over that newer text, so it carries its version.
            doc.refresh_from_db()
            form.data = form.data.copy()
            form.data["base_version"] = postmortems.draft_version(doc)
            return _document_page(request, doc, form=form, status=409)
    else:
        postmortems.require_state(doc, doc.DRAFT, "submitted")
    if not submit:
        messages.success(request, "Saved.")
        return redirect(doc)
    try:
        doc, report = postmortems.submit(doc, request.user)
    except ValidationError as exc:
        messages.error(request, "Saved, but not sent for review. " + " ".join(exc.messages))
    else:
        n = len(report.findings)
        messages.success(request, "Saved and sent to the Governance Council for review." + (
            f" The checks found {n} problem{'s' if n != 1 else ''}; fix them or a council "
            "member must override them." if n else ""))
    return redirect(doc)


@login_required
@require_POST
def postmortem_publish(request: HttpRequest, pk: int, amendment_id: int | None = None):
    doc = _get_document(request, pk, amendment_id, "approve_postmortem")
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _document_page(request, doc, publish_form=form, status=400)
    try:
        doc = postmortems.publish(doc, request.user, form.cleaned_data["override_reason"])
    except ValidationError as exc:
        # Back to the document, the reason at the top: nothing typed is lost (a refusal
        # here means no override reason was given), and the address is the page's own.
        url = doc.get_absolute_url()
        messages.error(request, refusal(" ".join(exc.messages), [
            ("See the findings", f"{url}#checks"), ("Override or send it back", f"{url}#review")]))
        return redirect(doc)
    pm = doc if isinstance(doc, Postmortem) else doc.postmortem
    messages.success(request, f"Published at {pm.get_public_url()}.")
    return redirect(doc)


@login_required
@require_POST
def postmortem_send_back(request: HttpRequest, pk: int, amendment_id: int | None = None):
    doc = _get_document(request, pk, amendment_id, "approve_postmortem")
    form = SendBackForm(request.POST)
    if not form.is_valid():
        return _document_page(request, doc, send_back_form=form, status=400)
    doc = postmortems.send_back(doc, request.user, form.cleaned_data["note"])
    messages.success(request, "Sent back to its authors; your note is on the timeline.")
    return redirect(doc)


@login_required
def amendment_new(request: HttpRequest, pk: int) -> HttpResponse:
    pm = _get_document(request, pk, action="edit_postmortem")
    blocked = None if pm.state == Postmortem.PUBLISHED else Conflict(
        "Only a published post-mortem takes amendments; edit the draft instead.")
    form = AmendmentForm(request.POST or None)
    if ready_to_act(request, form, blocked):
        with refusal_kept_in(form):
            fields = {k: v for k, v in form.cleaned_data.items() if k != "base_version"}
            amendment = postmortems.start_amendment(pm, request.user, **fields)
            messages.success(request, "Amendment drafted. Submit it for review when it is ready.")
            return redirect(amendment)
    return render(request, "incidents/amendment_new.html", {"pm": pm, "form": form},
                  status=refused_status(form))


# --- published post-mortems (no sign-in) -------------------------------------------

PUBLIC_PAGE_SIZE = 20


def _published_changed_at():
    return postmortems.public_postmortems().aggregate(last=Max("public_updated_at"))["last"]


def _feed(request: HttpRequest, group: str, changed_at, feed: Feed) -> HttpResponse:
    """An Atom feed through the page cache of its group, like the group's other pages."""
    response = pagecache.serve(request, group, changed_at, lambda: feed(request), page="feed")
    # A copy served from the cache is rebuilt as a plain HttpResponse: say again what it is.
    if response.status_code == 200:
        response["Content-Type"] = feed.feed_type.content_type
    return response


@require_safe
def public_feed(request: HttpRequest) -> HttpResponse:
    return _feed(request, "postmortems", _published_changed_at, feeds.PostmortemFeed())


public_feed.serves_feed = True  # for the checks that crawl every feed (tests/test_accessibility.py)


@require_safe
def public_list(request: HttpRequest) -> HttpResponse:
    def render_page():
        page = Paginator(postmortems.published(), PUBLIC_PAGE_SIZE).get_page(request.GET.get("page"))
        response = render(request, "postmortems/list.html", {"page": page})
        response.page_number = page.number
        return response

    return pagecache.serve(request, "postmortems", _published_changed_at, render_page)


@require_safe
def public_detail(request: HttpRequest, slug: str) -> HttpResponse:
    def render_page():
        pm = (postmortems.public_postmortems().filter(slug=slug)
              .only("pk", "title", "body", "slug", "published_at", "public_updated_at",
                    "content_hash", "state").first())
        if pm is None:
            raise Http404("No published post-mortem here.")
        # Lazy: the template reads it only when its cached fragment is stale.
        amendments = postmortems.published_amendments(pm)
        response = render(request, "postmortems/detail.html", {"pm": pm, "amendments": amendments})
        # This page's own version, not the whole group's: an amendment to another
        # post-mortem re-renders this page but does not make readers download it again.
        response["ETag"] = quote_etag(f"{pm.content_hash[:16]}-{pm.public_updated_at.timestamp():.6f}")
        response["Last-Modified"] = http_date(pm.public_updated_at.timestamp())
        return response

    # Every publication moves the group's stamp, so it also validates each page.
    return pagecache.serve(request, "postmortems", _published_changed_at, render_page,
                           page=f"postmortem:{slug}")


# --- public incident notices (incidents.notices) ------------------------------------


def _get_draft_notice(request: HttpRequest, pk: int, notice_id: int, action: str) -> Notice:
    roles.require(request.user, action)
    return get_object_or_404(Notice.objects.select_related("incident"), pk=notice_id, incident_id=pk)


@login_required
def notice_new(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _get_incident(request, pk, "draft_notice")
    form = NoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with refusal_kept_in(form):
            notice = notices.draft(incident, request.user, **form.cleaned_data)
            messages.success(request,
                             "Notice drafted; the commander publishes it once the checks pass.")
            return redirect(f"{incident.get_absolute_url()}#notice-{notice.pk}")
    return render(request, "incidents/notice_new.html", {"incident": incident, "form": form,
                                                         "refusal": notices.refusal(incident, "")},
                  status=refused_status(form))


@login_required
@require_POST
def notice_publish(request: HttpRequest, pk: int, notice_id: int) -> HttpResponse:
    notice = _get_draft_notice(request, pk, notice_id, "publish_notice")
    try:
        notices.publish(notice, request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Notice published on the status page.")
    return redirect(f"{notice.incident.get_absolute_url()}#notice-{notice.pk}")


@login_required
@require_POST
def notice_discard(request: HttpRequest, pk: int, notice_id: int) -> HttpResponse:
    notice = _get_draft_notice(request, pk, notice_id, "draft_notice")
    notices.discard(notice, request.user)
    messages.success(request, "Draft notice discarded.")
    return redirect(notice.incident)


# --- the public status page and its JSON (no sign-in) --------------------------------


@require_safe
def status_feed(request: HttpRequest) -> HttpResponse:
    return _feed(request, notices.PAGE_GROUP, notices.changed_at, feeds.StatusFeed())


status_feed.serves_feed = True


@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    def render_page():
        incidents = notices.public_incidents()
        level = notices.indicator(incidents)
        return render(request, "status/page.html", {
            "incidents": incidents, "indicator": level,
            "description": notices.INDICATOR_DESCRIPTIONS[level],
            "unresolved": [i for i in incidents if not i.resolved],
            "resolved": [i for i in incidents if i.resolved],
        })

    return pagecache.serve(request, notices.PAGE_GROUP, notices.changed_at, render_page, page="html")


def _status_json(request: HttpRequest, page: str, build) -> HttpResponse:
    def render_json():
        incidents = notices.public_incidents()
        # The newest notice is the latest incident's: the page's updated_at, with no extra query.
        updated_at = incidents[0].updated_at if incidents else None
        return JsonResponse(build(incidents, updated_at), json_dumps_params={"ensure_ascii": False})

    response = pagecache.serve(request, notices.PAGE_GROUP, notices.changed_at, render_json, page=page)
    # A copy served from the cache is rebuilt as a plain HttpResponse: say again what it is.
    if response.status_code == 200:
        response["Content-Type"] = "application/json"
    # Public data, read by status widgets on other sites as Statuspage's is.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def status_summary(request: HttpRequest) -> HttpResponse:
    return _status_json(request, "summary.json", notices.summary_json)


@require_safe
def status_status(request: HttpRequest) -> HttpResponse:
    return _status_json(request, "status.json", notices.status_page_json)


@require_safe
def status_components(request: HttpRequest) -> HttpResponse:
    return _status_json(request, "components.json", notices.components_json)


@require_safe
def status_incidents(request: HttpRequest) -> HttpResponse:
    return _status_json(request, "incidents.json", notices.incidents_json)


@require_safe
def status_unresolved(request: HttpRequest) -> HttpResponse:
    return _status_json(request, "unresolved.json", notices.unresolved_json)
