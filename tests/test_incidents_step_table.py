"""The steps table on a phone: each cell shows its label first, and an empty cell is hidden
(`td:empty` in qpgov.css), which only works when the cell holds nothing, not even spaces."""

import re

from django.urls import reverse

from incidents import services
from incidents.models import ResponseStep
from incidents.tasks import run_step

# Labelled, nothing to show, yet not :empty: the phone would print "Actions:" and nothing after.
BLANK_LABELLED_CELL = re.compile(r'<td[^>]*data-label="[^"]*"[^>]*>\s+</td>')


def test_a_step_with_nothing_to_do_shows_no_empty_actions_label(client, rita, demo_node, published):
    incident = services.declare(title="Stalled blocks", severity="SEV2", nodes=[demo_node], declared_by=rita)
    run_step(incident.steps.get(position=1).id)  # the freeze succeeds: nothing to retry or skip on it
    client.force_login(rita)
    page = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert ResponseStep.objects.filter(incident=incident, status=ResponseStep.SUCCEEDED).exists()
    assert 'data-label="Try 1"' in page  # the try row is there
    assert BLANK_LABELLED_CELL.findall(page) == []
    assert '<td data-label="Actions"></td>' in page  # the succeeded step's: hidden on a phone
    # A pending step still offers "Skip…", under its label.
    assert re.search(r'<td data-label="Actions">\s*<a class="button secondary" id="skip-', page)
