"""Every refused action shows its reason at the top of the page it returns to (issue 17, item 3),
and every form says what is wrong at its top, each problem linked to its field."""

import re

import pytest
from django.urls import reverse

from incidents.models import Postmortem
from qpgov.http import Conflict
from tests import postmortem_factories as pmf

FINDING = "Guaranteed returns for all holders."


def top_alert(html: str) -> str:
    """The first role=alert block inside <main>, before the page's own heading."""
    main = html[html.index('<main'):]
    alert = main.index('role="alert"')
    assert alert < main.index("<h1"), "the refusal is not at the top of the page"
    return main[alert:main.index("</div>", alert)]


def test_a_blocked_publish_returns_to_the_post_mortem_with_the_reason_at_the_top(client, rita, carol):
    pm = pmf.in_review(rita, text=pmf.body(Summary=FINDING))
    client.force_login(carol)
    response = client.post(reverse("incidents:postmortem_publish", args=[pm.incident_id]), {})
    assert response.status_code == 302 and response["Location"] == pm.get_absolute_url()
    html = client.get(response["Location"]).content.decode()
    alert = top_alert(html)
    assert "found problems" in alert
    assert f'href="{pm.get_absolute_url()}#checks"' in alert
    assert f'href="{pm.get_absolute_url()}#review"' in alert
    assert Postmortem.objects.get(pk=pm.pk).state == Postmortem.IN_REVIEW


def test_a_conflict_on_a_form_post_goes_back_to_the_page_it_came_from(client, rita, carol):
    pm = postmortems_published(rita, carol)
    client.force_login(rita)
    page = "http://testserver" + pm.incident.get_absolute_url()
    response = client.post(reverse("incidents:postmortem_submit", args=[pm.incident_id]),
                           HTTP_REFERER=page)
    assert response.status_code == 303 and response["Location"] == page
    alert = top_alert(client.get(page).content.decode())
    assert "can be submitted only while it is draft" in alert
    assert f'href="{pm.get_absolute_url()}"' in alert


def postmortems_published(rita, carol):
    from incidents import postmortems
    return postmortems.publish(pmf.in_review(rita), carol)


@pytest.mark.parametrize("referer", [None, "https://elsewhere.example/incidents/1/"])
def test_without_a_page_of_ours_to_return_to_it_answers_409_with_the_reason(
        client, rita, carol, referer):
    pm = postmortems_published(rita, carol)
    client.force_login(rita)
    extra = {"HTTP_REFERER": referer} if referer else {}
    response = client.post(reverse("incidents:postmortem_submit", args=[pm.incident_id]), **extra)
    assert response.status_code == 409
    assert "can be submitted only while it is draft" in top_alert_409(response.content.decode())


def top_alert_409(html):
    main = html[html.index('<main'):]
    return main[main.index('role="alert"'):]


def test_a_conflicts_links_are_escaped(rf):
    from qpgov.http import refusal
    html = refusal("<b>no</b>", [("x\" onmouseover=\"y", "/a?b=<c>")])
    assert "<b>" not in html and 'href="/a?b=&lt;c&gt;"' in html and '" onmouseover' not in html
    assert Conflict("why", links=[("a", "/b")]).links == (("a", "/b"),)


def test_a_form_with_errors_lists_them_at_the_top_linked_to_each_field(client, rita):
    client.force_login(rita)
    response = client.post(reverse("incidents:declare"), {"title": "", "severity": ""})
    assert response.status_code == 200
    html = response.content.decode()
    alert = top_alert(html)
    assert 'href="#id_title"' in alert and 'href="#id_severity"' in alert
    assert 'id="id_title"' in html


@pytest.mark.parametrize("who, url", [("rita", "incidents:declare"), ("alice", "changes:create"),
                                      ("olga", "fleet:node_add"), (None, "password_reset")])
def test_help_text_is_reachable_from_the_field_it_describes(client, rita, alice, olga, who, url):
    if who:
        client.force_login({"rita": rita, "alice": alice, "olga": olga}[who])
    html = client.get(reverse(url)).content.decode()
    for ref in re.findall(r'aria-describedby="([^"]+)"', html):
        for one in ref.split():
            assert f'id="{one}"' in html, f"aria-describedby points at missing #{one}"
    assert "<form" in html


def test_the_sign_in_error_is_announced(client, rita):
    html = client.post(reverse("login"), {"username": "rita", "password": "wrong"}).content.decode()
    main = html[html.index("<main"):]
    assert 'role="alert"' in main and "correct username and password" in main


def test_severity_is_a_deliberate_choice(client, rita, demo_node):
    client.force_login(rita)
    html = client.get(reverse("incidents:declare")).content.decode()
    select = html[html.index('name="severity"'):html.index("</select>", html.index('name="severity"'))]
    assert '<option value="" selected>' in select
    response = client.post(reverse("incidents:declare"), {
        "title": "Fork at height 10", "nodes": [demo_node.pk], "commander": rita.pk})
    assert response.status_code == 200 and 'href="#id_severity"' in response.content.decode()


def test_the_outcome_radios_are_a_fieldset_with_a_legend(client, alice, olga, oscar):
    from changes import services
    from tests.factories import in_review, vote

    p = in_review(alice)
    vote(p, olga)
    services.decide(p.pk, p.earliest_decision_at)
    client.force_login(oscar)
    html = client.get(reverse("changes:implementation", args=[p.pk])).content.decode()
    assert 'for=""' not in html
    assert re.search(r"<fieldset class=\"field\">\s*<legend>Outcome</legend>", html)
