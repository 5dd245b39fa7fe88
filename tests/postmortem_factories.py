"""Post-mortems in each state, built through the same services the web uses."""

from incidents import postmortems
from incidents.models import Incident, Postmortem

SECTIONS = {
    "Summary": "Block production on mainnet stalled for 14 minutes after a validator crashed.",
    "Impact": "No blocks were produced between 10:31 and 10:45 UTC. No funds were at risk.",
    "Detection": "The block-height alert fired two minutes after the last block.",
    "Root cause": "A consensus timeout set too low made validators time out on every round.",
    "Trigger": "A configuration change applied to three validators at once.",
    "Resolution": "The timeout was restored to its previous value and validators restarted.",
    "Timeline": "- 10:31 last block\n- 10:33 alert\n- 10:45 blocks resume",
    "Action items": "| Action | Owner | Due date |\n| --- | --- | --- |\n"
                    "| Stagger config rollouts | Core Ops | 2026-12-15 |",
    "Lessons learned": "Roll configuration out one validator at a time.",
}


def body(**overrides) -> str:
    sections = {**SECTIONS, **overrides}
    return "\n\n".join(f"## {name}\n\n{text}" for name, text in sections.items() if text is not None)


def incident(commander, title="Block production stalled") -> Incident:
    return Incident.objects.create(title=title, severity="SEV2", declared_by=commander,
                                   commander=commander, runbook_version="test",
                                   state=Incident.POSTMORTEM_DRAFTED)


def draft(author, title="Block production stalled for 14 minutes", text=None) -> Postmortem:
    return Postmortem.objects.create(incident=incident(author, title), assignee=author, title=title,
                                     body=text if text is not None else body())


def in_review(author, **kwargs) -> Postmortem:
    return postmortems.submit(draft(author, **kwargs), author)[0]


def published(author, approver, override_reason="", **kwargs) -> Postmortem:
    return postmortems.publish(in_review(author, **kwargs), approver, override_reason)


def amendment(pm, author, text="Correction: the outage lasted 15 minutes, not 14."):
    return postmortems.start_amendment(pm, author, text)


def amendment_in_review(pm, author, **kwargs):
    return postmortems.submit(amendment(pm, author, **kwargs), author)[0]


def published_amendment(pm, author, approver, **kwargs):
    return postmortems.publish(amendment_in_review(pm, author, **kwargs), approver)
