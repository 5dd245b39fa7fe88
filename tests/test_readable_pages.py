"""Pages show words, full names and labels, not codes (issue 17, should-fix)."""

import re
import tokenize
from pathlib import Path

import pytest

from incidents import runbook, services
from incidents.tasks import run_step
from qpgov import wording
from tests.factories import in_review, vote

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def incident(rita, demo_node, published):
    rita.first_name, rita.last_name = "Rita", "Responder"
    rita.save()
    incident = services.declare(title="Fork at height 10", severity="SEV1", nodes=[demo_node],
                                declared_by=rita, summary="Two chains.")
    run_step(incident.steps.get(kind=runbook.FREEZE).id)
    return incident


def test_the_incident_timeline_reads_as_words_with_full_names(client, rita, incident):
    client.force_login(rita)
    html = client.get(incident.get_absolute_url()).content.decode()
    timeline = html[html.index('class="timeline"'):]
    assert "step_started" not in timeline and "node_frozen" not in timeline
    assert "<strong>node frozen</strong>" in timeline
    assert "Rita Responder" in timeline
    assert "node(s)" not in html and "(ies)" not in html


def test_a_proposals_history_names_states_and_people_in_words(client, alice, olga, oscar):
    alice.first_name, alice.last_name = "Alice", "Proposer"
    alice.save()
    p = in_review(alice)
    vote(p, olga)
    client.force_login(alice)
    html = client.get(p.get_absolute_url()).content.decode()
    log = html[html.index("<h2>Change log</h2>"):]
    assert "draft → in review" in log and "in_review" not in log
    assert "Alice Proposer" in log and "vote cast" in log


ROOT = TEMPLATES.parent
# "http(s)" names a URL scheme, not a count.
NOT_A_PLURAL = {"http(s)"}


def _strings(path: Path):
    """Every one-quote string literal (f-strings included) of a Python file, with its line."""
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            # A docstring explains code to its reader, is never shown and is never an f-string.
            if token.type == tokenize.STRING and not token.string.startswith(('"""', "'''")):
                yield token.start[0], token.string


def test_no_text_says_thing_s_instead_of_counting():
    """ "3 restart(s)" reads as a form letter: wording.count says "3 restarts", "1 restart"."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if {".venv", "tests", "bench"} & set(path.relative_to(ROOT).parts):
            continue
        for line, text in _strings(path):
            found += [f"{path.relative_to(ROOT)}:{line}: {m}"
                      for m in re.findall(r"[A-Za-z]+\(s\)", text) if m not in NOT_A_PLURAL]
    for path in sorted(TEMPLATES.rglob("*.html")):
        found += [f"{path.relative_to(ROOT)}: {m}"
                  for m in re.findall(r"[A-Za-z]+\(s\)", path.read_text()) if m not in NOT_A_PLURAL]
    assert found == []


def test_words_for_numbers():
    assert wording.count(1, "node") == "1 node" and wording.count(3, "delivery", "deliveries") == \
        "3 deliveries"
    assert wording.event_title("step_started") == "step started"
    assert wording.state_name("postmortem_drafted") == "post-mortem drafted"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_every_cell_of_a_responsive_table_carries_its_label(path):
    """Below 48rem the header row is hidden; each cell shows its data-label instead."""
    for table in re.findall(r'<table class="responsive">.*?</table>', path.read_text(), re.S):
        body = table[table.index("</thead>"):]
        for td in re.findall(r"<td(?=[\s>])[^>]*>", body):
            assert "data-label" in td or "colspan" in td, f"{path.name}: {td}"
