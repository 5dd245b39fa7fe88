"""Who may do what, against tests/permission_table.py, in two parts.

The door: every URL x every actor x GET and POST, with empty bodies; someone
not allowed is turned away exactly (403, a hidden object's 404, a 405, or the
sign-in page), never with a 409 or a form error. The actions: every row of
ACTION_ROWS x every actor, on an object in the state where the action succeeds
and with a valid form, so that a missing role check shows up as a success.
"""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from changes import services
from changes.models import Freeze, Proposal, State
from fleet.models import AlertGroup, CheckRun, Node
from incidents import actions, notices, runbook
from incidents import services as incident_services
from incidents.models import Amendment, Evidence, Incident, Notice, Postmortem, ResponseStep
from qpgov import checkpoints, roles
from qpgov.models import Checkpoint
from tests import factories
from tests import permission_table as table
from tests import postmortem_factories as pmf
from tests.conftest import ROOT, make_user
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


def build_world():
    """The actors and one sample object of each kind in TABLE, in one database.

    Also used by tests/test_accessibility.py to crawl every page as every actor."""
    actors = build_actors()
    return actors, build_samples(actors)


def build_actors():
    """The named actors (and oscar, a second Core Ops member)."""
    actors = {
        table.ANON: None,
        table.OUTSIDER: make_user("eve"),
        table.PROPOSER: make_user("alice", roles.PROPOSERS),
        table.CORE_OPS: make_user("olga", roles.CORE_OPS),
        table.COUNCIL: make_user("carol", roles.COUNCIL),
        table.RESPONDER: make_user("rita", roles.RESPONDERS),
        table.STAFF: make_user("stan", is_staff=True, is_superuser=True),
    }
    make_user("oscar", roles.CORE_OPS)
    make_user("cora", roles.COUNCIL)
    return actors


def build_samples(actors):
    """One sample object of each kind in TABLE; some hold change freezes from here on."""
    alice, olga = actors[table.PROPOSER], actors[table.CORE_OPS]
    approved = _approved(alice, olga)
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
        # Made before the freeze, which would hold its implementation.
        "unratified": _unratified(actors, node),
        "freeze": _freeze(olga),
        "draft": draft(alice, title="A draft for the matrix"),
        "proposal_in_review": in_review(alice, title="A proposal in review for the matrix"),
        "approved": approved,
        "incident": incident,
        "step": incident.steps.first(),
        "evidence": evidence,
        "node": node,
        "alert_group": _alert_group(),
        "postmortem_draft": pmf.draft(rita, title="A draft post-mortem"),
        "postmortem_in_review": pmf.in_review(rita, title="A post-mortem in review"),
        "postmortem_published": (published_pm := pmf.published(
            rita, User.objects.get(username="cora"), title="A published post-mortem")),
        "amendment_draft": pmf.amendment(published_pm, rita),
        "amendment_in_review": pmf.amendment_in_review(published_pm, rita),
        "checkpoint": _checkpoint(),
        "notice_draft": _notice(incident, rita),
    }
    return samples


def _checkpoint():
    """A stored checkpoint, signed by the configured key when there is one (the audit pages
    serve only rows that verify: the accessibility crawl sets a key); otherwise a row
    whose note no key signed, enough for who-may-read-it."""
    note = "a checkpoint note\n"
    if checkpoints.configured_verifier_key() is not None:
        text = checkpoints.checkpoint_text(checkpoints.origin(), 0, "0" * 64)
        note = checkpoints.sign_note(text, checkpoints.origin(), checkpoints.signing_key())
    return Checkpoint.objects.create(number=1, size=0, head_hash="0" * 64, note=note,
                                     signed_at=timezone.now())


@pytest.fixture
def world(db, evidence_dir):
    return build_world()


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
    if sample == "checkpoint":
        return reverse(name, args=[obj.number])
    if sample in ("step", "step_needing_human", "evidence", "notice_draft"):
        return reverse(name, args=[obj.incident_id, obj.pk])
    return reverse(name, args=[obj.pk])


def is_turned_away(response, name, method, actor):
    """Refused the way the table says: never a 409 or a form error, which a request gets
    only once it is past the permission check."""
    status = response.status_code
    if name == "admin":
        return status == 302 and response["Location"].startswith("/admin/login/")
    served = method in table.TABLE[name][1]
    if actor == table.ANON:
        if status == 302:
            return response["Location"].startswith(LOGIN)
        return status == 405 and not served
    if not served:
        return status == 405
    return status == (404 if actor in table.NOT_FOUND_FOR.get(name, ()) else 403)


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
        assert is_turned_away(response, name, method, actor), (url, method, actor, response.status_code)


# --- Actions: refused to the wrong role with a request that would succeed -----------------


def test_every_action_has_a_row():
    """An action added to qpgov.roles must be tested here before it is trusted."""
    covered = {row.action for row in table.ACTION_ROWS.values()}
    missing = sorted(set(roles.ACTIONS) - covered)
    assert not missing, (
        f"roles.ACTIONS has actions with no row in tests/permission_table.py ACTION_ROWS: "
        f"{missing}. Add a row per URL that takes the action, with a sample object in a state "
        f"where it succeeds (build_sample) and a valid body (action_body).")
    stale = sorted(covered - set(roles.ACTIONS))
    assert not stale, f"ACTION_ROWS names actions that roles.ACTIONS no longer has: {stale}"


def test_every_state_changing_url_has_an_action_row():
    """Every URL that takes a POST from someone is tested with a body that would succeed."""
    rows = {(row.url, row.method) for row in table.ACTION_ROWS.values()}
    posts = {(name, "POST") for name, (_, allowed) in table.TABLE.items()
             if allowed.get("POST") and name not in table.NOT_ACTIONS}
    missing = sorted(name for name, _ in posts - rows)
    assert not missing, f"these URLs take a POST but have no row in ACTION_ROWS: {missing}"


@pytest.mark.parametrize("row_id", sorted(table.ACTION_ROWS))
def test_each_action_row_agrees_with_roles_and_the_url_table(row_id):
    row = table.ACTION_ROWS[row_id]
    assert row.url in table.TABLE, f"{row_id}: {row.url} is no URL in TABLE"
    assert row.allowed, f"{row_id}: nobody may do it, so nothing proves the refusals"
    # Object rules may narrow who may act (only the proposer, only the commander),
    # never widen it: each allowed actor holds a role that roles.ACTIONS allows.
    for actor in row.allowed:
        assert table.ROLE_ACTORS[actor] in roles.ACTIONS[row.action], (row_id, actor)
    sample, allowed = table.TABLE[row.url]
    if row.sample == sample:  # the same URL on the same kind of object: the same people
        assert row.allowed <= allowed[row.method], (row_id, "wider than TABLE")


def db_state():
    """Every row of every qpgov model, so "nothing changed" means exactly that."""
    state = {}
    for config in PROJECT_APPS:
        for model in config.get_models():
            state[model._meta.label] = list(model.objects.order_by("pk").values_list())
    return state


# Every app of this repository (not the libraries' apps), so a new app is covered
# without anyone remembering to list it here.
PROJECT_APPS = [config for config in apps.get_app_configs()
                if Path(config.path).resolve().is_relative_to(ROOT) and ".venv" not in config.path]


@pytest.fixture
def people(db):
    actors = {
        table.ANON: None,
        table.OUTSIDER: make_user("eve"),
        table.PROPOSER: make_user("alice", roles.PROPOSERS),
        table.CORE_OPS: make_user("olga", roles.CORE_OPS),
        table.COUNCIL: make_user("carol", roles.COUNCIL),
        table.RESPONDER: make_user("rita", roles.RESPONDERS),
        table.STAFF: make_user("stan", is_staff=True, is_superuser=True),
    }
    # A second member of each approving role, so that approvals are reachable
    # and a post-mortem has a publisher other than the council member under test.
    make_user("oscar", roles.CORE_OPS)
    actors["cora"] = make_user("cora", roles.COUNCIL)
    return actors


def _alert_group():
    return AlertGroup.objects.create(key_hash="0" * 64, group_key='{}:{alertname="MatrixAlert"}',
                                     group_labels={"alertname": "MatrixAlert"})


def _incident(people, title="Block production stalled on validator-matrix"):
    node = Node.objects.create(name="validator-matrix", environment="mainnet", role="validator")
    rita = people[table.RESPONDER]
    return incident_services.declare(title=title, severity="SEV2", nodes=[node], declared_by=rita,
                                     commander=rita, summary="Blocks stopped at height 1200.")


NOTICE_FORM = {"status": "investigating", "impact": "minor", "title": "Slow confirmations",
               "body": "Some transactions take up to two minutes to confirm; we are on it."}


def _notice(incident, author):
    return notices.draft(incident, author, **NOTICE_FORM)


def _approved(alice, olga):
    """Approved an hour ago: its implementation can be recorded as done now."""
    with time_machine.travel(timezone.now() - timedelta(hours=25), tick=False):
        proposal = in_review(alice, title="An approved change for the matrix")
        vote(proposal, olga)
    services.decide(proposal.pk, proposal.earliest_decision_at)
    proposal.refresh_from_db()
    return proposal


def _freeze(by):
    return Freeze.objects.create(
        title="Network upgrade freeze for the matrix", reason="The v2 upgrade is being rolled out.",
        starts_at=timezone.now() - timedelta(hours=1), ends_at=timezone.now() + timedelta(days=1),
        categories=["ops", "governance"], source="Core Ops", created_by=by)


def _emergency(people, node=None):
    """An emergency change in review, for an open SEV1 on its node."""
    rita, alice = people[table.RESPONDER], people[table.PROPOSER]
    node = node or Node.objects.create(name="validator-sev1", environment="mainnet")
    incident = factories.sev1(rita, rita, node)
    return factories.emergency_in_review(alice, incident,
                                         title="An emergency change for the matrix")


def _unratified(people, node=None):
    """An emergency change approved, implemented, and not ratified by its deadline."""
    proposal = _emergency(people, node)
    olga = people[table.CORE_OPS]
    vote(proposal, olga)
    vote(proposal, User.objects.get(username="oscar"))
    services.record_implementation(proposal.pk, olga, factories.implementation_data(
        conflict_reason="The other changes wait for the incident; this is the fix for it."))
    proposal.refresh_from_db()
    services.decide(proposal.pk, proposal.deadline)
    proposal.refresh_from_db()
    assert proposal.state == State.UNRATIFIED
    return proposal


def build_sample(sample, people):
    """The object a row acts on, in the state where the action succeeds for the right role."""
    alice, rita = people[table.PROPOSER], people[table.RESPONDER]
    if sample is None:
        return None
    if sample == "draft":
        return draft(alice, title="A draft for the matrix")
    if sample == "proposal_in_review":
        return in_review(alice, title="A proposal in review for the matrix")
    if sample == "governance_in_review":
        return in_review(alice, title="A governance proposal for the matrix", category="governance")
    if sample == "approved":
        proposal = _approved(alice, people[table.CORE_OPS])
        assert proposal.state == State.APPROVED
        return proposal
    if sample == "emergency_in_review":
        return _emergency(people)
    if sample == "unratified":
        return _unratified(people)
    if sample == "freeze":
        return _freeze(people[table.CORE_OPS])
    if sample == "role_change":
        # Through the ORM's signals, as the admin would: the change is logged.
        user = User.objects.create_user("granted-in-the-matrix")
        user.groups.add(Group.objects.get(name=roles.CORE_OPS))
        return user
    if sample == "node":
        return Node.objects.create(name="validator-matrix", environment="mainnet", role="validator")
    if sample == "alert_group":
        return _alert_group()
    if sample == "incident":
        return _incident(people)
    if sample == "step":
        step = _incident(people).steps.get(kind=runbook.FREEZE)
        assert step.status == ResponseStep.PENDING
        return step
    if sample == "step_needing_human":
        step = _incident(people).steps.get(kind=runbook.FREEZE)
        ResponseStep.objects.filter(id=step.id).update(
            status=ResponseStep.NEEDS_HUMAN, attempts=3, last_error="unit is masked")
        return step
    if sample == "contained_incident":
        incident = _incident(people)
        # As the worker leaves it: every automatic step done, the incident contained.
        incident.steps.exclude(kind=runbook.POSTMORTEM).update(status=ResponseStep.SUCCEEDED)
        Incident.objects.filter(pk=incident.pk).update(state=Incident.CONTAINED)
        return Incident.objects.get(pk=incident.pk)
    if sample == "evidence":
        incident = _incident(people)
        name = actions.evidence_storage().save(f"matrix/{incident.pk}/logs.export",
                                               ContentFile(b"matrix evidence bytes"))
        return Evidence.objects.create(incident=incident, node=incident.nodes.get(),
                                       kind=Evidence.LOGS, storage_name=name, size=21,
                                       sha256="0" * 64)
    if sample == "notice_draft":
        return _notice(_incident(people), rita)
    if sample == "postmortem_draft":
        return pmf.draft(rita, title="A draft post-mortem")
    if sample == "postmortem_in_review":
        return pmf.in_review(rita, title="A post-mortem in review")
    published_pm = pmf.published(rita, people["cora"], title="A published post-mortem")
    if sample == "postmortem_published":
        return published_pm
    if sample == "amendment_draft":
        return pmf.amendment(published_pm, rita)
    if sample == "amendment_in_review":
        return pmf.amendment_in_review(published_pm, rita)
    raise AssertionError(f"no builder for sample {sample!r}")


def action_url(row, obj):
    try:
        return reverse(row.url)  # a URL without arguments (lists, forms for new objects)
    except NoReverseMatch:
        return url_for(row.url, row.sample, {row.sample: obj})


PM_BODY = pmf.body(Summary="Block production on mainnet stalled for 14 minutes; edited here.")
NODE_FORM = {"environment": "mainnet", "target": "", "unit": "quantumpay-node",
             "data_dir": "/var/lib/quantumpay"}

# row id -> a valid form for it, as a browser would send it; rows not named post nothing.
BODIES = {
    "write a draft": lambda obj, p: factories.form_data(title="A new proposal from the matrix"),
    "edit one's draft": lambda obj, p: factories.form_data(title="An edited draft from the matrix"),
    "withdraw one's proposal": lambda obj, p: {"note": "Superseded by a smaller change next week."},
    "amend one's proposal": lambda obj, p: {
        **{k: v for k, v in factories.form_data(title=obj.title).items() if k != "category"},
        "summary": "Raise max_peers from 50 to 70 on the three public rpc nodes in mainnet.",
        "note": "Seventy peers, not eighty, after the memory review.",
    },
    "vote on an ops change": lambda obj, p: {"choice": "approve", "reason": "",
                                             "revision_hash": obj.content_hash,
                                             "confirm_determinism": "on"},
    "vote on a governance change": lambda obj, p: {"choice": "approve", "reason": "",
                                                   "revision_hash": obj.content_hash},
    "approve an emergency change": lambda obj, p: {"choice": "approve", "reason": "",
                                                   "revision_hash": obj.content_hash,
                                                   "confirm_determinism": "on"},
    "reclassify a change as a feature": lambda obj, p: {
        "adds_feature": "yes", "reason": "It adds a new RPC method for clients.",
        "revision_hash": obj.content_hash},
    "record the rollback of an unratified change": lambda obj, p: {
        "performed_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
        "rollback_notes": "Restored the previous timeout and restarted every validator."},
    "declare a freeze": lambda obj, p: {
        "title": "Freeze around the v3 upgrade", "reason": "Validators upgrade to v3 that day.",
        "starts_at": (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "categories": ["ops"]},
    "lift a freeze": lambda obj, p: {"note": "The upgrade finished early and cleanly."},
    "record an implementation": lambda obj, p: {
        "outcome": "implemented",
        "performed_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
        "verification_notes": "Peer counts checked on every rpc node after the restart.",
        "public_changelog": "Raised the peer limit on the public rpc nodes to eighty.",
    },
    "declare an incident": lambda obj, p: {
        "title": "Validator-matrix stopped signing blocks", "severity": "SEV2",
        "nodes": [obj.pk], "commander": p[table.RESPONDER].pk,
        "summary": "No signatures since height 1300.",
    },
    "skip a step": lambda obj, p: {"reason": "The node was already frozen by hand before we declared."},
    "resolve an incident": lambda obj, p: {
        "resolution": "The validator was restarted with the old timeout.", "confirm": "on"},
    "add a node": lambda obj, p: {**NODE_FORM, "name": "validator-added", "role": "validator"},
    "edit a node": lambda obj, p: {**NODE_FORM, "name": obj.name, "role": "rpc"},
    "edit a post-mortem draft": lambda obj, p: {
        "title": "A draft post-mortem, edited", "body": PM_BODY,
        "internal_notes": "Edited from the matrix."},
    "start an amendment": lambda obj, p: {"body": "Correction: the stall began at 10:30, not 10:31."},
    "edit an amendment": lambda obj, p: {"body": "Correction: the outage lasted 16 minutes, not 14."},
    "publish a post-mortem": lambda obj, p: {"override_reason": ""},
    "publish an amendment": lambda obj, p: {"override_reason": ""},
    "send a post-mortem back": lambda obj, p: {"note": "Name the three validators in the timeline."},
    "send an amendment back": lambda obj, p: {"note": "Say where the new figure comes from."},
    "draft a public notice": lambda obj, p: {**NOTICE_FORM, "title": "Drafted from the matrix"},
}


def action_body(row_id, obj, people):
    return BODIES[row_id](obj, people) if row_id in BODIES else {}


def _reloaded(obj):
    return type(obj).objects.get(pk=obj.pk)


# row id -> what the allowed actor's request must have done (beyond writing something).
EFFECTS = {
    "write a draft": lambda obj, p: Proposal.objects.filter(
        title="A new proposal from the matrix", proposer=p[table.PROPOSER]).exists(),
    "edit one's draft": lambda obj, p: _reloaded(obj).title == "An edited draft from the matrix",
    "submit one's draft": lambda obj, p: _reloaded(obj).state == State.IN_REVIEW,
    "withdraw one's proposal": lambda obj, p: _reloaded(obj).state == State.WITHDRAWN,
    "amend one's proposal": lambda obj, p: _reloaded(obj).revision == 2,
    "vote on an ops change": lambda obj, p: obj.votes.filter(voter=p[table.CORE_OPS]).exists(),
    "vote on a governance change": lambda obj, p: obj.votes.filter(voter=p[table.COUNCIL]).exists(),
    "record an implementation": lambda obj, p: _reloaded(obj).state == State.IMPLEMENTED,
    "approve an emergency change": lambda obj, p: obj.votes.filter(
        voter=p[table.CORE_OPS], determinism_confirmed=True).exists(),
    "reclassify a change as a feature": lambda obj, p: _reloaded(obj).adds_feature,
    "record the rollback of an unratified change": lambda obj, p:
        _reloaded(obj).state == State.ROLLED_BACK,
    "declare a freeze": lambda obj, p: Freeze.objects.filter(
        title="Freeze around the v3 upgrade", created_by__in=[p[table.CORE_OPS], p[table.COUNCIL]]
    ).exists(),
    "lift a freeze": lambda obj, p: _reloaded(obj).lifted_at is not None,
    "declare an incident": lambda obj, p: Incident.objects.filter(
        title="Validator-matrix stopped signing blocks").exists(),
    "retry a step": lambda obj, p: _reloaded(obj).status == ResponseStep.PENDING,
    "skip a step": lambda obj, p: _reloaded(obj).status == ResponseStep.SKIPPED,
    "resolve an incident": lambda obj, p: _reloaded(obj).state == Incident.RESOLVED,
    "add a node": lambda obj, p: Node.objects.filter(name="validator-added").exists(),
    "delete a node": lambda obj, p: not Node.objects.filter(pk=obj.pk).exists(),
    "check every node": lambda obj, p: CheckRun.objects.filter(nodes=obj,
                                                               requested_by=p[table.CORE_OPS]).exists(),
    "check a node": lambda obj, p: CheckRun.objects.filter(nodes=obj,
                                                           requested_by=p[table.CORE_OPS]).exists(),
    "edit a node": lambda obj, p: _reloaded(obj).role == "rpc",
    "acknowledge an incident": lambda obj, p: obj.acknowledgements.filter(
        user=p[table.COUNCIL]).exists(),
    "edit a post-mortem draft": lambda obj, p: _reloaded(obj).title == "A draft post-mortem, edited",
    "submit a post-mortem": lambda obj, p: _reloaded(obj).state == Postmortem.IN_REVIEW,
    "start an amendment": lambda obj, p: obj.amendments.exists(),
    "edit an amendment": lambda obj, p: "16 minutes" in _reloaded(obj).body,
    "submit an amendment": lambda obj, p: _reloaded(obj).state == Amendment.IN_REVIEW,
    "publish a post-mortem": lambda obj, p: _reloaded(obj).state == Postmortem.PUBLISHED,
    "send a post-mortem back": lambda obj, p: _reloaded(obj).state == Postmortem.DRAFT,
    "publish an amendment": lambda obj, p: _reloaded(obj).state == Amendment.PUBLISHED,
    "send an amendment back": lambda obj, p: _reloaded(obj).state == Amendment.DRAFT,
    "draft a public notice": lambda obj, p: obj.notices.filter(title="Drafted from the matrix").exists(),
    "publish a public notice": lambda obj, p: _reloaded(obj).is_published,
    "discard a draft notice": lambda obj, p: not Notice.objects.filter(pk=obj.pk).exists(),
}


def shown(obj) -> bytes:
    """What a page that reads `obj` shows of it: for the GET rows."""
    if isinstance(obj, Evidence):
        return b"matrix evidence bytes"
    if isinstance(obj, User):
        return obj.username.encode()
    return (getattr(obj, "title", None) or obj.name).encode()


def content_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_every_post_row_says_what_success_looks_like():
    posts = {row_id for row_id, row in table.ACTION_ROWS.items() if row.method == "POST"}
    assert posts == set(EFFECTS), sorted(posts ^ set(EFFECTS))


ACTION_CASES = [(row_id, actor) for row_id in sorted(table.ACTION_ROWS) for actor in table.ACTORS]


@pytest.mark.parametrize("row_id,actor", ACTION_CASES)
def test_each_action_is_refused_to_the_wrong_role_and_works_for_the_right_one(
        client, people, evidence_dir, row_id, actor):
    row = table.ACTION_ROWS[row_id]
    obj = build_sample(row.sample, people)
    url, body = action_url(row, obj), action_body(row_id, obj, people)

    def send(who):
        client.logout()
        if people[who] is not None:
            client.force_login(people[who])
        return client.get(url) if row.method == "GET" else client.post(url, body)

    before = db_state()
    if actor not in row.allowed:
        response = send(actor)
        where = (row_id, row.method, url, actor, response.status_code)
        if actor == table.ANON:
            assert response.status_code == 302 and response["Location"].startswith(LOGIN), where
        else:
            assert response.status_code == row.expected_refusal(actor), where
        assert db_state() == before, f"{where}: the refused request wrote to the database"
        if row.method == "GET":
            assert shown(obj) not in content_of(response), f"{where}: the refusal shows the object"
        # The same request from someone allowed succeeds: the refusal was the role's doing.
        actor = sorted(row.allowed)[0]

    response = send(actor)
    where = (row_id, row.method, url, actor, response.status_code)
    assert 200 <= response.status_code < 400, where
    if response.status_code == 302:
        assert not response["Location"].startswith(LOGIN), where
    if row.method == "GET":
        assert response.status_code == 200 and shown(obj) in content_of(response), where
        assert db_state() == before, f"{where}: reading wrote to the database"
    else:
        # A re-shown form (200 with errors) would leave the database as it was.
        assert db_state() != before, f"{where}: the allowed request changed nothing"
        assert EFFECTS[row_id](obj, people), f"{where}: not the change the action makes"
