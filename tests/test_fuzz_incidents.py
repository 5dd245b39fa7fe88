"""Property-based input on the incident forms and declare_incident: no 500, no half-written rows.

Also raw bodies no browser would send: NUL bytes, invalid UTF-8, very long
lines, right-to-left text, and Markdown over the configured limit.
"""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from changes.models import Proposal
from fleet.models import Node
from incidents.models import Incident, IncidentNode, ResponseStep
from qpgov.models import Event
from tests.conftest import ROOT

nasty_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50).map(lambda s: s * 40),
    st.sampled_from(["\x00", "abc\x00def", "\u202eevil\u202c", "", " " * 1000, "\n\n",
                     "<script>alert(1)</script>", "9" * 400, "-1", "2026-13-45 99:99",
                     "ـــــ\u200f", "مرحبا بالعالم", "validator-1; rm -rf /", "../../etc/passwd",
                     "$(reboot)", "`id`", "ops@host\nProxyCommand=sh", "{data_dir}", "x" * 70000]),
)

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def counts():
    return (Incident.objects.count(), ResponseStep.objects.count(), Node.objects.count(),
            Event.objects.count())


@pytest.fixture
def node(db):
    return Node.objects.get_or_create(name="validator-1")[0]


@FUZZ
@given(field=st.sampled_from(["title", "severity", "nodes", "detected_at", "commander", "summary"]),
       value=nasty_text)
@example(field="nodes", value="²")  # a digit to str.isdigit() that int() refuses
def test_the_declare_form_never_errors_or_half_writes(client, rita, node, published, field, value):
    client.force_login(rita)
    data = {"title": "Stalled blocks", "severity": "SEV2", "nodes": [node.pk],
            "commander": rita.pk, "summary": "", field: value}
    before = counts()
    response = client.post(reverse("incidents:declare"), data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert counts() == before
    else:
        incidents, steps, nodes, events = before
        assert counts() == (incidents + 1, steps + 5, nodes, events + 2)


@pytest.fixture
def incident(rita, node, published):
    from incidents import services

    return services.declare(title="Stalled blocks", severity="SEV2", nodes=[node],
                            declared_by=rita)


@FUZZ
@given(reason=nasty_text)
def test_the_skip_form_never_errors_or_half_writes(client, rita, incident, reason):
    client.force_login(rita)
    step = incident.steps.get(position=1)
    ResponseStep.objects.filter(id=step.id).update(status=ResponseStep.PENDING, skip_reason="")
    before = counts()
    response = client.post(reverse("incidents:skip", args=[incident.pk, step.id]),
                           {"reason": reason})
    assert response.status_code in (200, 302)
    step.refresh_from_db()
    if response.status_code == 200:
        assert counts() == before and step.status == ResponseStep.PENDING
    else:
        assert step.status == ResponseStep.SKIPPED and step.skip_reason == reason.strip()
        assert counts()[3] == before[3] + 1


@FUZZ
@given(resolution=nasty_text, unfreeze=st.one_of(nasty_text, st.just("node")),
       confirm=st.one_of(nasty_text, st.just("on")))
def test_the_resolve_form_never_errors_or_half_writes(client, rita, incident, node, resolution,
                                                      unfreeze, confirm):
    client.force_login(rita)
    Incident.objects.filter(pk=incident.pk).update(state=Incident.CONTAINED, resolution="")
    Node.objects.filter(pk=node.pk).update(frozen=True)
    IncidentNode.objects.filter(node=node).update(unfreeze_requested_at=None)
    before = counts()
    response = client.post(reverse("incidents:resolve", args=[incident.pk]), {
        "resolution": resolution, "confirm": confirm,
        "unfreeze": node.pk if unfreeze == "node" else unfreeze})
    assert response.status_code in (200, 302)
    state = Incident.objects.get(pk=incident.pk).state
    if response.status_code == 200:
        assert counts() == before and state == Incident.CONTAINED
    else:
        assert state == Incident.RESOLVED


@FUZZ
@given(field=st.sampled_from(["name", "environment", "role", "target", "unit", "data_dir"]),
       value=nasty_text)
def test_the_node_form_never_errors_or_half_writes(client, olga, field, value):
    client.force_login(olga)
    data = {"name": f"validator-{Node.objects.count() + 1}", "environment": "mainnet",
            "role": "validator", "target": "", "unit": "quantumpay-node",
            "data_dir": "/var/lib/quantumpay", field: value}
    before = Node.objects.count()
    response = client.post(reverse("fleet:node_add"), data)
    assert response.status_code in (200, 302)
    assert Node.objects.count() == before + (response.status_code == 302)
    if response.status_code == 302:
        saved = Node.objects.latest("id")
        # Whatever got through is plain: no shell or newline characters reach a command.
        for text in (saved.name, saved.target, saved.unit, saved.data_dir):
            assert not set(text) & set(" ;`$|&<>\n\r\x00'\"")


argv_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200)


@FUZZ
@given(title=argv_text, severity=st.one_of(st.sampled_from(["SEV1", "SEV2", "SEV3"]), argv_text),
       node_name=st.one_of(st.just("validator-1"), argv_text),
       by=st.one_of(st.just("rita"), argv_text), summary=argv_text)
def test_declare_incident_never_crashes_or_half_writes(rita, node, published, title, severity,
                                                       node_name, by, summary):
    before = counts()
    try:
        call_command("declare_incident", title, "--severity", severity, "--node", node_name,
                     "--by", by, "--summary", summary, stdout=open("/dev/null", "w"))  # noqa: SIM115
    except CommandError:
        assert counts() == before
    else:
        incidents, steps, nodes, events = before
        assert counts() == (incidents + 1, steps + 5, nodes, events + 2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("title", [b"\xff\xfe not UTF-8", "\u202etitle\u202c".encode(),
                                   b"long " * 20000], ids=["invalid-utf8", "rtl", "long-line"])
def test_declare_incident_from_a_shell_refuses_bad_bytes_with_a_clear_message(
        process_env, rita, node, title):
    result = subprocess.run(
        [sys.executable, "manage.py", "declare_incident", title, "--severity", "SEV3",
         "--node", "validator-1", "--by", "rita"],
        cwd=ROOT, env=dict(process_env, CELERY_BROKER_URL="memory://"), capture_output=True,
        timeout=60,
    )
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")[-2000:]
    assert result.returncode in (0, 1)
    assert Incident.objects.count() == (result.returncode == 0)


RAW_BODIES = {
    "nul-bytes": b"title=a\x00b&summary=%00%00&severity=SEV1",
    "invalid-utf8": b"title=\xff\xfe\xfd&summary=\xc3\x28&severity=SEV1",
    "invalid-percent-utf8": b"title=%ff%fe&summary=%c3%28",
    "long-line": b"title=" + b"a" * 200_000,
    "rtl": "title=\u202eSEV1\u202c&summary=مرحبا".encode(),
    "not-a-form": b"\x00\x01\x02" * 1000,
}
RAW_TARGETS = [("changes:create", "alice"), ("incidents:declare", "rita"),
               ("fleet:node_add", "olga"), ("login", None)]


@pytest.mark.parametrize("body", RAW_BODIES.values(), ids=RAW_BODIES.keys())
@pytest.mark.parametrize("name,actor", RAW_TARGETS)
def test_raw_bodies_no_browser_sends_are_refused_cleanly(db, client, request, body, name, actor):
    if actor:
        client.force_login(request.getfixturevalue(actor))
    before = counts() + (Proposal.objects.count(),)
    response = client.generic("POST", reverse(name), body,
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 400)
    assert counts() + (Proposal.objects.count(),) == before


def test_incident_markdown_over_the_configured_limit_gets_a_clear_error(
        client, rita, node, settings, published):
    client.force_login(rita)
    limit = settings.QPGOV_MAX_MARKDOWN_CHARS
    response = client.post(reverse("incidents:declare"), {
        "title": "Stalled blocks", "severity": "SEV2", "nodes": [node.pk],
        "commander": rita.pk, "summary": "x" * (limit + 1)})
    assert response.status_code == 200
    assert f"{limit:,}" in response.content.decode()
    assert not Incident.objects.exists()
