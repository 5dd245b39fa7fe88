"""Public incident notices: drafted by responders, published by the commander, shown on /status/."""

import re
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import notices
from incidents.models import Incident, Notice
from qpgov import pagecache, roles
from qpgov.http import Conflict
from qpgov.models import Event
from tests.conftest import make_user

BODY = "Some transactions take up to two minutes to confirm. We are looking into the cause."


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    pagecache.forget()
    yield
    cache.clear()
    pagecache.forget()


@pytest.fixture
def rob(db):
    return make_user("rob", roles.RESPONDERS, first_name="Robin", last_name="Hale")


def incident(commander, *, drill=False, state=Incident.RESPONDING, title="Validator stalled at height 1200"):
    return Incident.objects.create(title=title, severity="SEV2", declared_by=commander, commander=commander,
                                   runbook_version="test", state=state, drill=drill)


def notice(inc, author, status=Notice.INVESTIGATING, impact="minor", title="Slow confirmations", body=BODY):
    return notices.draft(inc, author, status=status, impact=impact, title=title, body=body)


def published(inc, commander, **kwargs):
    return notices.publish(notice(inc, commander, **kwargs), commander)


def test_a_responder_drafts_and_the_commander_publishes(rita, rob):
    inc = incident(rita)
    draft = notice(inc, rob)
    assert not draft.is_published and notices.published().count() == 0
    with pytest.raises(PermissionDenied, match="commander"):
        notices.publish(draft, rob)
    done = notices.publish(draft, rita)
    assert done.is_published and done.published_by == rita and done.content_hash == done.compute_hash()
    kinds = list(Event.objects.filter(kind__startswith="notice_").values_list("subject_type", "kind"))
    assert kinds == [("incidents.notice", "notice_drafted"), ("incidents.notice", "notice_published"),
                     ("incidents.incident", "notice_published")]


def test_other_roles_neither_draft_nor_publish(rita, carol, olga):
    inc = incident(rita)
    for someone in (carol, olga):
        with pytest.raises(PermissionDenied):
            notice(inc, someone)
    draft = notice(inc, rita)
    with pytest.raises(PermissionDenied):
        notices.publish(draft, carol)


@pytest.mark.parametrize("title,body,category", [
    ("Slow confirmations", "Despite the stall, QPAY trades at $1.42, up 6% over the past day.",
     "price discussion"),
    ("Slow confirmations", "Stake now and earn 12% APY while we fix this!", "profit or yield promise"),
    ("Slow confirmations", "Join our presale before it sells out.", "promotional language"),
    ("Slow confirmations", "The fix uses AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.",
     "sensitive data"),
    ("Slow confirmations", "rita restarted the node after the alert.", "sensitive data"),
    ("Slow confirmations", "Robin Hale restarted the node after the alert.", "sensitive data"),
    ("Outage on validator-matrix", BODY, "sensitive data"),
])
def test_the_checks_block_publication(rita, rob, title, body, category):
    from fleet.models import Node

    Node.objects.create(name="validator-matrix", environment="mainnet", role="validator")
    draft = notice(incident(rita), rita, title=title, body=body)
    with pytest.raises(ValidationError) as refused:
        notices.publish(draft, rita)
    assert category in " ".join(refused.value.messages)
    draft.refresh_from_db()
    assert not draft.is_published and notices.published().count() == 0
    assert not Event.objects.filter(kind="notice_published").exists()


def test_a_blocked_publication_is_reported_on_the_incident_page(client, rita):
    draft = notice(incident(rita), rita, body="Get your tokens now, before the fix lands!")
    client.force_login(rita)
    url = reverse("incidents:notice_publish", args=[draft.incident_id, draft.pk])
    response = client.post(url, follow=True)
    assert b"promotional language" in response.content
    assert not Notice.objects.get(pk=draft.pk).is_published


def test_a_drill_is_never_announced_and_never_shown(client, rita):
    drill = incident(rita, drill=True, title="Drill: validator stalled")
    with pytest.raises(Conflict, match="drill"):
        notice(drill, rita)
    # Even a notice that reached the table some other way stays off every public page.
    Notice.objects.create(incident=drill, author=rita, status="investigating", impact="major",
                          title="Drill rehearsal notice", body=BODY, published_at=timezone.now(),
                          published_by=rita)
    real = published(incident(rita), rita, title="Slow confirmations")
    for name in ("status:page", "status:feed", "status:summary", "status:incidents", "status:unresolved"):
        body = Client().get(reverse(name)).content.decode()
        assert "Drill rehearsal notice" not in body, name
        assert real.title in body, name


def test_the_declare_form_marks_a_drill(client, rita):
    from fleet.models import Node

    node = Node.objects.create(name="validator-drill", environment="mainnet", role="validator")
    client.force_login(rita)
    client.post(reverse("incidents:declare"), {
        "title": "Rehearsal", "severity": "SEV3", "nodes": [node.pk], "commander": rita.pk, "drill": "on"})
    assert Incident.objects.get(title="Rehearsal").drill


def test_a_drill_can_be_declared_from_a_shell(rita, capsys):
    from django.core.management import call_command

    from fleet.models import Node

    Node.objects.create(name="validator-drill", environment="mainnet", role="validator")
    call_command("declare_incident", "Rehearsal", "--severity", "SEV3", "--node", "validator-drill",
                 "--by", "rita", "--drill")
    assert Incident.objects.get().drill and "drill" in capsys.readouterr().out


def test_notices_are_for_open_incidents_and_one_last_resolved_notice(rita):
    inc = incident(rita, state=Incident.RESOLVED)
    with pytest.raises(Conflict, match="resolved"):
        notice(inc, rita, status=Notice.MONITORING)
    published(inc, rita, status=Notice.RESOLVED, impact="none")
    with pytest.raises(Conflict, match="already public"):
        notice(inc, rita, status=Notice.RESOLVED)


def test_a_published_notice_never_changes(rita):
    done = published(incident(rita), rita)
    done.body = "Something else entirely."
    with pytest.raises(ValueError, match="cannot change"):
        done.save()
    done.refresh_from_db()
    with pytest.raises(ValueError, match="cannot be deleted"):
        done.delete()
    with pytest.raises(Conflict, match="already public"):
        notices.publish(done, rita)
    with pytest.raises(Conflict, match="stays public"):
        notices.discard(done, rita)
    assert Notice.objects.get(pk=done.pk).body == BODY


@pytest.mark.parametrize("change", [
    {"published_at": None},  # unpublished: it would vanish from every public page
    {"published_at": None, "content_hash": ""},
    {"body": "Something else entirely.", "content_hash": ""},
    {"body": "Something else entirely.", "content_hash": "recomputed"},
    {"status": Notice.RESOLVED, "impact": "none", "content_hash": "recomputed"},
    {"title": "A new public name", "content_hash": "recomputed"},
    {"content_hash": "0" * 64},
    {"published_at": "an hour later"},
])
def test_a_published_notice_stays_published_and_unchanged(rita, change):
    done = published(incident(rita), rita)
    stored = Notice.objects.filter(pk=done.pk).values().get()
    notice = Notice.objects.get(pk=done.pk)
    for name, value in change.items():
        if value == "an hour later":
            value = notice.published_at + timedelta(hours=1)
        setattr(notice, name, value)
    if change.get("content_hash") == "recomputed":
        notice.content_hash = notice.compute_hash()
    with pytest.raises(ValueError, match="cannot change"):
        notice.save()
    with pytest.raises(ValueError, match="cannot be deleted"):
        notice.delete()
    assert Notice.objects.filter(pk=done.pk).values().get() == stored
    assert list(notices.published()) == [done]


def test_a_draft_can_be_discarded(rita, rob):
    draft = notice(incident(rita), rob)
    notices.discard(draft, rob)
    assert not Notice.objects.filter(pk=draft.pk).exists()
    assert Event.objects.filter(kind="notice_discarded").count() == 1


def test_anonymous_visitors_see_a_notice_only_once_published(client, rita,
                                                             django_capture_on_commit_callbacks):
    inc = incident(rita)
    draft = notice(inc, rita, title="Not yet public")
    page = client.get(reverse("status:page"))
    assert b"Not yet public" not in page.content and b"All Systems Operational" in page.content
    # The cached page is replaced at publication, not served stale.
    with django_capture_on_commit_callbacks(execute=True):
        notices.publish(draft, rita)
    page = client.get(reverse("status:page"))
    assert b"Not yet public" in page.content and b"Minor Service Outage" in page.content
    assert page["Cache-Control"] == pagecache.PUBLIC_CACHE_CONTROL


def test_the_status_page_is_served_from_the_cache_without_queries(client, rita, django_assert_num_queries,
                                                                  django_assert_max_num_queries):
    for i in range(6):
        inc = incident(rita, title=f"Incident {i}")
        for status in ("investigating", "identified", "monitoring"):
            published(inc, rita, status=status, title=f"Public name {i}")
    with django_assert_max_num_queries(3):  # the stamp, the incidents, their notices
        first = client.get(reverse("status:page"))
    assert first.status_code == 200 and first.content.count(b'class="panel status-incident"') == 6
    with django_assert_num_queries(0):
        again = client.get(reverse("status:page"))
    assert again.content == first.content
    for name in ("status:feed", "status:summary", "status:incidents", "status:unresolved"):
        cache.clear()  # a cold cache: the stamp is read from the database too
        pagecache.forget()
        with django_assert_max_num_queries(3):
            client.get(reverse(name))


def test_the_feed_is_served_from_the_page_cache_like_the_other_status_pages(
        client, rita, django_assert_num_queries, django_capture_on_commit_callbacks):
    inc = incident(rita)
    published(inc, rita, title="Slow confirmations")
    first = client.get(reverse("status:feed"))
    with django_assert_num_queries(0):
        again = client.get(reverse("status:feed"))
    assert again.content == first.content and b"Slow confirmations" in again.content
    for response in (first, again):
        assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert response["Cache-Control"] == pagecache.PUBLIC_CACHE_CONTROL
    assert again["ETag"] == first["ETag"] and again["Last-Modified"] == first["Last-Modified"]
    with django_assert_num_queries(0):
        assert client.get(reverse("status:feed"), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    # A new notice replaces the cached feed at once.
    with django_capture_on_commit_callbacks(execute=True):
        published(inc, rita, status="identified", title="Cause found")
    assert b"Cause found" in client.get(reverse("status:feed")).content


def test_the_json_has_statuspage_shapes(client, rita):
    t0 = timezone.now().replace(microsecond=0)
    inc = incident(rita)
    with time_machine.travel(t0, tick=False):
        published(inc, rita, status="investigating", impact="major", title="Blocks delayed")
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        published(inc, rita, status="monitoring", impact="minor", title="Blocks delayed")
    old = incident(rita, title="An older one")
    with time_machine.travel(t0 + timedelta(minutes=7), tick=False):
        published(old, rita, status="resolved", impact="none", title="Old and resolved")

    summary = client.get(reverse("status:summary"))
    assert summary["Content-Type"] == "application/json" and summary["Access-Control-Allow-Origin"] == "*"
    data = summary.json()
    assert set(data) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(data["page"]) == {"id", "name", "url", "time_zone", "updated_at"}
    assert data["page"]["url"].endswith("/status/")
    assert data["status"] == {"indicator": "minor", "description": "Minor Service Outage"}
    assert data["components"][0]["status"] == "degraded_performance"
    [open_incident] = data["incidents"]
    assert open_incident["id"] == str(inc.pk) and open_incident["name"] == "Blocks delayed"
    assert open_incident["status"] == "monitoring" and open_incident["impact"] == "minor"
    assert open_incident["resolved_at"] is None
    started = t0.isoformat().replace("+00:00", ".000Z")
    assert open_incident["created_at"] == open_incident["started_at"] == started
    assert open_incident["monitoring_at"] == open_incident["updated_at"]
    assert open_incident["shortlink"].endswith(f"/status/#incident-{inc.pk}")
    for key in ("id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
                "shortlink", "started_at", "page_id", "incident_updates", "components"):
        assert key in open_incident, key
    updates = open_incident["incident_updates"]
    assert [u["status"] for u in updates] == ["monitoring", "investigating"]  # newest first, as Statuspage
    assert {"id", "status", "body", "incident_id", "created_at", "updated_at",
            "display_at"} <= set(updates[0])
    assert updates[0]["body"] == BODY and updates[0]["incident_id"] == str(inc.pk)

    every = client.get(reverse("status:incidents")).json()
    assert [i["name"] for i in every["incidents"]] == ["Old and resolved", "Blocks delayed"]
    assert every["incidents"][0]["resolved_at"] == every["incidents"][0]["updated_at"]
    unresolved = client.get(reverse("status:unresolved")).json()
    assert [i["id"] for i in unresolved["incidents"]] == [str(inc.pk)]
    # Served again from the cache, still JSON.
    assert client.get(reverse("status:summary"))["Content-Type"] == "application/json"


def test_nothing_to_report_is_all_systems_operational(client, db):
    data = client.get(reverse("status:summary")).json()
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == [] and data["components"][0]["status"] == "operational"


def test_the_json_never_sends_a_null_date(client, rita, settings):
    # Statuspage always sends these as date-time strings; a fixed, documented creation time fills them.
    assert settings.QPGOV_STATUS_PAGE_CREATED_AT == datetime(2026, 11, 30, tzinfo=UTC)
    settings.QPGOV_STATUS_PAGE_CREATED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = "2026-01-02T03:04:05.000Z"
    data = client.get(reverse("status:summary")).json()
    assert data["page"]["updated_at"] == created
    assert data["components"][0]["created_at"] == data["components"][0]["updated_at"] == created
    for name in ("status:incidents", "status:unresolved"):
        assert client.get(reverse(name)).json()["page"]["updated_at"] == created
    cache.clear()
    pagecache.forget()
    t1 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t1, tick=False):
        published(incident(rita), rita)
    data = client.get(reverse("status:summary")).json()
    assert data["page"]["updated_at"] == data["components"][0]["updated_at"] == (
        t1.isoformat().replace("+00:00", ".000Z"))
    assert data["components"][0]["created_at"] == created


def test_an_unresolved_incident_with_an_impact_names_the_mainnet_component(client, rita):
    hit = incident(rita, title="Blocks delayed")
    published(hit, rita, impact="major", title="Blocks delayed")
    quiet = incident(rita, title="A question from users")
    published(quiet, rita, impact="none", title="Looking into reports")
    over = incident(rita, title="Over")
    published(over, rita, status="resolved", impact="none", title="Old and resolved")
    summary = client.get(reverse("status:summary")).json()
    component = summary["components"][0]
    assert component["id"] == "mainnet" and component["status"] == "partial_outage"
    by_id = {i["id"]: i for i in summary["incidents"]}
    assert by_id[str(hit.pk)]["components"] == [component]
    assert by_id[str(quiet.pk)]["components"] == []
    every = {i["id"]: i for i in client.get(reverse("status:incidents")).json()["incidents"]}
    assert every[str(hit.pk)]["components"] == [component] and every[str(over.pk)]["components"] == []
    unresolved = client.get(reverse("status:unresolved")).json()["incidents"]
    assert [i["components"] for i in unresolved if i["id"] == str(hit.pk)] == [[component]]


def test_status_and_components_json_as_statuspage_serves_them(client, rita, django_assert_num_queries):
    published(incident(rita), rita, impact="critical")
    summary = client.get(reverse("status:summary")).json()
    status = client.get(reverse("status:status"))
    components = client.get(reverse("status:components"))
    assert status.json() == {"page": summary["page"], "status": summary["status"]}
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert components.json() == {"page": summary["page"], "components": summary["components"]}
    assert reverse("status:status") == "/api/v2/status.json"
    assert reverse("status:components") == "/api/v2/components.json"
    for name in ("status:status", "status:components"):
        with django_assert_num_queries(0):
            again = client.get(reverse(name))
        assert again["Content-Type"] == "application/json" and again["Access-Control-Allow-Origin"] == "*"
        assert again["Cache-Control"] == pagecache.PUBLIC_CACHE_CONTROL


def test_the_feed_parses_and_names_each_notice_for_good(client, rita, settings):
    inc = incident(rita)
    first = published(inc, rita, body="Delays & <b>retries</b>\non the public endpoint.")
    second = published(inc, rita, status="identified")
    response = client.get(reverse("status:feed"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.id == f"tag:{settings.QPGOV_TAG_AUTHORITY}:status"
    assert feed.feed.author == settings.QPGOV_FEED_AUTHOR
    assert [e.id for e in feed.entries] == [
        f"tag:{settings.QPGOV_TAG_AUTHORITY}:status/incidents/{inc.pk}/notices/{n.pk}"
        for n in (second, first)]
    assert feed.entries[0].title == "Identified: Slow confirmations"
    assert "<b>" not in feed.entries[1].summary and "&lt;b&gt;" in feed.entries[1].summary
    assert feed.entries[1].link.endswith(f"/status/#incident-{inc.pk}")


def test_the_commander_publishes_from_the_incident_page(client, rita, rob):
    inc = incident(rita)
    client.force_login(rob)
    response = client.post(reverse("incidents:notice_new", args=[inc.pk]), {
        "status": "identified", "impact": "major", "title": "Slow confirmations", "body": BODY})
    draft = Notice.objects.get()
    assert response.status_code == 302 and not draft.is_published
    page = client.get(inc.get_absolute_url()).content.decode()
    assert "Check and publish" not in page and "Discard draft" in page  # rob is not the commander
    client.force_login(rita)
    assert "Check and publish" in client.get(inc.get_absolute_url()).content.decode()
    client.post(reverse("incidents:notice_publish", args=[inc.pk, draft.pk]))
    assert Notice.objects.get().is_published
    assert b"Slow confirmations" in Client().get(reverse("status:page")).content


def test_a_bad_form_changes_nothing(client, rita):
    inc = incident(rita)
    client.force_login(rita)
    response = client.post(reverse("incidents:notice_new", args=[inc.pk]), {
        "status": "exploded", "impact": "minor", "title": "Line\nbreak", "body": ""})
    assert response.status_code == 200 and not Notice.objects.exists()
    assert set(response.context["form"].errors) == {"status", "title", "body"}


def test_the_notice_form_is_in_the_house_style(client, rita):
    """Labels, help text and errors as on every other form (review 17, S1)."""
    inc = incident(rita)
    client.force_login(rita)
    html = client.get(reverse("incidents:notice_new", args=[inc.pk])).content.decode()
    form = html[html.index('<form method="post" class="panel">'):]
    form = form[:form.index("</form>")]
    assert "Status:</label>" not in form and "Impact:</label>" not in form  # Django's default
    assert form.count('<div class="field">') == 4
    assert 'aria-describedby="id_impact_helptext"' in form and 'id="id_impact_helptext"' in form
    response = client.post(reverse("incidents:notice_new", args=[inc.pk]), {
        "status": "identified", "impact": "minor", "title": "Slow confirmations", "body": ""})
    page = response.content.decode()
    summary = page[page.index('class="error-summary"'):]
    assert '<a href="#id_body">Body: This field is required.</a>' in summary


def test_no_template_renders_a_form_in_djangos_default_style():
    from pathlib import Path
    templates = Path(__file__).resolve().parent.parent / "templates"
    found = [str(p.relative_to(templates)) for p in templates.rglob("*.html")
             if re.search(r"\.as_(div|p|table|ul)\b", p.read_text())]
    assert found == []


def test_a_notice_refused_for_a_resolved_incident_keeps_its_text(client, rita):
    inc = incident(rita, state=Incident.RESOLVED)
    client.force_login(rita)
    url = reverse("incidents:notice_new", args=[inc.pk])
    typed = "Blocks are on time again; TYPED-JUST-NOW."
    response = client.post(url, {"status": "monitoring", "impact": "minor",
                                 "title": "Slow confirmations", "body": typed},
                           HTTP_REFERER="http://testserver" + url)
    assert response.status_code == 409 and not Notice.objects.exists()
    page = response.content.decode()
    main = page[page.index("<main"):]
    alert = main[main.index('role="alert"'):]
    assert main.index('role="alert"') < main.index("<h1")
    assert "only notice left to publish is a resolved one" in alert[:alert.index("</div>")]
    assert main.count("only notice left to publish") == 1
    assert typed in page
