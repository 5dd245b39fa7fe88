"""The generated post-mortem draft: its public timeline names roles and times, never people or files."""

from incidents import actions, postmortems
from incidents.models import Incident, Node
from qpgov import eventlog, sensitive
from qpgov.models import Event
from tests import postmortem_factories as pmf


def incident_with_a_record(commander, council_member, responder):
    node = Node.objects.create(name="validator-4", target="ops@val-4.mainnet.internal:22")
    incident = pmf.incident(commander, title="Validator double-signing alarm")
    incident.nodes.set([node])
    eventlog.append(incident, "declared", actor=commander,
                    note=f"SEV2: alarm; nodes validator-4; commander {commander.username}")
    eventlog.append(incident, "step_succeeded", note="Freeze affected nodes: stopped validator-4",
                    data={"step": "freeze", "attempt": 1})
    eventlog.append(incident, "evidence_collected",
                    note="logs of validator-4: INC-1-validator-4-journal.tar.gz")
    eventlog.append(incident, "acknowledged", actor=council_member,
                    note=f"{council_member.username} acknowledged")
    eventlog.append(incident, "step_retried", actor=responder, note="Preserve logs: retry requested",
                    data={"step": "preserve_logs"})
    return incident


def test_the_public_timeline_names_roles_and_times_only(rita, carol, cora):
    rita.first_name, rita.last_name = "Rita", "Okafor"
    rita.save()
    incident = incident_with_a_record(rita, carol, cora)
    body, notes = actions.postmortem_texts(incident)
    timeline = postmortems.sections(body)["timeline"]

    assert "the incident commander: declared SEV2" in timeline
    assert "the response runbook: completed “Freeze affected nodes”" in timeline
    assert "a Governance Council member: acknowledged the incident" in timeline
    assert "the response runbook: evidence collected" in timeline
    assert " UTC — " in timeline
    for private in ("rita", "Okafor", "carol", "cora", "validator-4", "val-4", "journal.tar.gz"):
        assert private.lower() not in body.lower(), private
    assert "the incident commander declared it at" in body


def test_names_nodes_and_evidence_files_go_to_the_internal_notes(rita, carol, cora):
    incident = incident_with_a_record(rita, carol, cora)
    _, notes = actions.postmortem_texts(incident)
    for private in ("rita", "carol", "validator-4", "INC-1-validator-4-journal.tar.gz"):
        assert private in notes


def test_the_sensitive_check_finds_no_person_or_node_in_the_generated_draft(rita, carol, cora):
    incident = incident_with_a_record(rita, carol, cora)
    body, _ = actions.postmortem_texts(incident)
    found = [f for f in sensitive.check(body, **sensitive.known_names())]
    assert found == []
    # The same record as the old draft wrote it names the accounts, and the check says so.
    old_timeline = "\n".join(f"- {e.occurred_at:%H:%M} — {e.actor_name}: {e.kind}"
                             for e in Event.objects.for_subject(incident))
    assert {f.match for f in sensitive.check(old_timeline, **sensitive.known_names())} >= {"rita", "carol"}


def test_the_draft_step_stores_the_internal_notes(rita, carol, cora):
    incident = incident_with_a_record(rita, carol, cora)
    Incident.objects.filter(pk=incident.pk).update(state=Incident.RESOLVED)
    step = incident.steps.create(kind="postmortem", position=5, attempts=1)
    actions.draft_postmortem(step, "task-1")
    draft = Incident.objects.get(pk=incident.pk).postmortem
    assert "INC-1-validator-4-journal.tar.gz" in draft.internal_notes
    assert "journal.tar.gz" not in draft.body


def test_notice_bookkeeping_stays_out_of_the_public_timeline(rita):
    from incidents import notices
    from qpgov import roles
    from tests.conftest import make_user

    rob = make_user("rob", roles.RESPONDERS)

    incident = Incident.objects.create(title="Blocks delayed", severity="SEV2", declared_by=rita,
                                       commander=rita, runbook_version="test", state=Incident.RESPONDING)
    eventlog.append(incident, "declared", actor=rita, note="SEV2")
    fields = {"status": "investigating", "impact": "minor", "title": "Slow confirmations",
              "body": "Some transactions take up to two minutes to confirm."}
    notices.discard(notices.draft(incident, rob, **fields), rob)
    notices.discard(notices.draft(incident, rita, **fields), rita)
    notices.publish(notices.draft(incident, rob, **fields), rita)
    kinds = set(Event.objects.for_subject(incident).values_list("kind", flat=True))
    assert {"notice_discarded", "notice_published"} <= kinds
    body, notes = actions.postmortem_texts(incident)
    timeline = postmortems.sections(body)["timeline"]
    assert "notice discarded" not in timeline and "notice drafted" not in timeline
    assert "discarded" not in body and "draft notice" not in body
    # Publishing a notice is part of the public story, told by role like every other line.
    assert timeline.count("the incident commander: posted a public status update") == 1
    assert timeline.count("\n") == 1  # declared, and the one update
    assert notes.count("notice discarded") == 2  # the internal record keeps everything
