"""The incident page updates in place while steps run (issue 17, items 2 and 4)."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from incidents import postmortems, runbook, services
from incidents.models import Incident
from incidents.tasks import run_step
from tests import postmortem_factories as pmf


@pytest.fixture
def incident(rita, demo_node, published):
    return services.declare(title="Fork at height 10", severity="SEV1", nodes=[demo_node],
                            declared_by=rita, summary="Two chains.")


def live(client, incident):
    return client.get(reverse("incidents:live", args=[incident.pk]))


def test_the_fragment_carries_every_region_of_the_page_and_says_it_is_moving(client, rita, incident):
    client.force_login(rita)
    page = client.get(incident.get_absolute_url()).content.decode()
    fragment = live(client, incident)
    assert fragment.status_code == 200 and fragment["Cache-Control"] == "no-store"
    html = fragment.content.decode()
    assert 'data-moving="true"' in html
    for region in ("incident-status", "incident-progress", "incident-steps", "incident-evidence",
                   "incident-side"):
        assert f'id="{region}"' in html and f'id="{region}"' in page
    assert 'aria-live="polite"' in html
    assert "<html" not in html  # a fragment, not a page


def test_polling_stops_once_nothing_runs(client, rita, incident):
    for kind in runbook.get().steps[:4]:
        run_step(incident.steps.get(kind=kind).id)
    client.force_login(rita)
    assert 'data-moving="false"' in live(client, incident).content.decode()
    page = client.get(incident.get_absolute_url()).content.decode()
    assert 'data-moving="false"' in page and "Refresh now" not in page


def test_the_freeze_step_says_what_it_did_not_its_exit_code(client, rita, incident):
    run_step(incident.steps.get(kind=runbook.FREEZE).id)
    client.force_login(rita)
    html = live(client, incident).content.decode()
    assert "stopped, confirmed inactive" in html
    assert ">succeeded</span>\n        exit" not in html and "succeeded exit" not in html


def test_waiting_for_a_worker_appears_only_after_the_grace_period(client, rita, incident, settings):
    settings.QPGOV_WORKER_GRACE_SECONDS = 30
    client.force_login(rita)
    assert "waiting for a worker" not in live(client, incident).content.decode()
    due = incident.steps.get(kind=runbook.FREEZE).next_attempt_at
    with time_machine.travel(due + timedelta(seconds=31), tick=False):
        assert "waiting for a worker since" in live(client, incident).content.decode()


def test_a_published_post_mortems_incident_says_so(client, rita, carol):
    pm = postmortems.publish(pmf.in_review(rita), carol)
    assert pm.incident.state == Incident.POSTMORTEM_DRAFTED
    client.force_login(rita)
    html = client.get(pm.incident.get_absolute_url()).content.decode()
    assert '<span class="badge">post-mortem published</span>' in html
    assert "post-mortem drafted" not in html


def test_the_fragment_is_for_incident_readers_only(client, alice, incident):
    client.force_login(alice)
    assert live(client, incident).status_code == 403
