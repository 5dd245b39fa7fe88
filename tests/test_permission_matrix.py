"""Every URL x every actor x GET and POST, against tests/permission_table.py."""

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from changes import services
from incidents import actions
from incidents import services as incident_services
from incidents.models import Evidence, Node
from qpgov import roles
from tests import permission_table as table
from tests import postmortem_factories as pmf
from tests.conftest import make_user
from tests.factories import draft, in_review, vote

LOGIN = "/accounts/login/"


def named_urls(patterns=None, namespace=""):
    """Yield 'namespace:name' for every named URL; the admin counts as one entry."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                yield "admin"
                continue
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_urls(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name


def test_every_url_is_classified():
    unclassified = sorted(set(named_urls()) - set(table.TABLE))
    assert not unclassified, f"classify these URLs in tests/permission_table.py: {unclassified}"
    stale = sorted(set(table.TABLE) - set(named_urls()))
    assert not stale, f"these entries name no URL any more: {stale}"


@pytest.fixture
def world(db, evidence_dir):
    actors = {
        table.ANON: None,
        table.OUTSIDER: make_user("eve"),
        table.PROPOSER: make_user("alice", roles.PROPOSERS),
        table.CORE_OPS: make_user("olga", roles.CORE_OPS),
        table.COUNCIL: make_user("carol", roles.COUNCIL),
        table.RESPONDER: make_user("rita", roles.RESPONDERS),
        table.STAFF: make_user("stan", is_staff=True, is_superuser=True),
    }
    alice, olga = actors[table.PROPOSER], actors[table.CORE_OPS]
    make_user("oscar", roles.CORE_OPS)
    approved = in_review(alice, title="An approved change for the matrix")
    vote(approved, olga)
    services.decide(approved.pk, approved.earliest_decision_at)
    rita = actors[table.RESPONDER]
    node = Node.objects.create(name="validator-matrix", environment="mainnet", role="validator")
    incident = incident_services.declare(
        title="Block production stalled on validator-matrix", severity="SEV2", nodes=[node],
        declared_by=rita, commander=rita, summary="Blocks stopped at height 1200.",
    )
    name = actions.evidence_storage().save(f"matrix/{incident.pk}/logs.export", ContentFile(b"log"))
    evidence = Evidence.objects.create(incident=incident, node=node, kind=Evidence.LOGS,
                                       storage_name=name, size=3, sha256="0" * 64)
    samples = {
        "draft": draft(alice, title="A draft for the matrix"),
        "proposal_in_review": in_review(alice, title="A proposal in review for the matrix"),
        "approved": approved,
        "incident": incident,
        "step": incident.steps.first(),
        "evidence": evidence,
        "node": node,
        "postmortem_draft": pmf.draft(rita, title="A draft post-mortem"),
        "postmortem_in_review": pmf.in_review(rita, title="A post-mortem in review"),
        "postmortem_published": (published_pm := pmf.published(
            rita, make_user("cora", roles.COUNCIL), title="A published post-mortem")),
        "amendment_draft": pmf.amendment(published_pm, rita),
        "amendment_in_review": pmf.amendment_in_review(published_pm, rita),
    }
    return actors, samples


def url_for(name, sample, samples):
    if name == "admin":
        return reverse("admin:index")
    if sample is None:
        return reverse(name)
    if sample == "reset_link":  # a mailed link whose token has expired
        return reverse(name, args=["MQ", "expired-token"])
    obj = samples[sample]
    if sample == "postmortem_published" and name.startswith("postmortems:"):
        return reverse(name, args=[obj.slug])
    if sample.startswith("postmortem_"):
        return reverse(name, args=[obj.incident_id])
    if sample.startswith("amendment_"):
        return reverse(name, args=[obj.postmortem.incident_id, obj.pk])
    if sample in ("step", "evidence"):
        return reverse(name, args=[obj.incident_id, obj.pk])
    return reverse(name, args=[obj.pk])


def is_turned_away(response, actor):
    if response.status_code == 302 and response["Location"].startswith("/admin/login/"):
        return True  # the admin's own sign-in, for anyone who is not staff
    if actor == table.ANON and response.status_code == 302:
        return response["Location"].startswith(LOGIN)
    return response.status_code in (403, 404, 405, 409)


CASES = [(name, method, actor) for name in sorted(table.TABLE) for method in table.METHODS
         for actor in table.ACTORS]


@pytest.mark.parametrize("name,method,actor", CASES)
def test_the_matrix(client, world, name, method, actor):
    actors, samples = world
    sample, allowed = table.TABLE[name]
    if actors[actor] is not None:
        client.force_login(actors[actor])
    url = url_for(name, sample, samples)
    response = client.get(url) if method == "GET" else client.post(url, {})
    if actor in allowed.get(method, table.NOBODY):
        assert response.status_code not in (403, 405, 500), (url, method, actor)
        if response.status_code == 302:
            assert not response["Location"].startswith(LOGIN), (url, method, actor)
    else:
        assert is_turned_away(response, actor), (url, method, actor, response.status_code)
