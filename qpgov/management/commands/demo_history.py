"""A demo history for a dev checkout: the whole change and incident lifecycle, through the services.

Nothing here writes a row itself. Proposals are written, submitted, voted on,
withdrawn and implemented by the functions the web views call, with the same
forms validating the input; decisions are taken by `changes.services.decide`,
the function the decision sweep runs, with `now` set to the moment the review
window allows it (up to a day ahead: a decision cannot be taken before the
window's earliest decision, and the demo does not wait); an approved change is
recorded as implemented at the moment of its approval, for the same reason. The incident runs its
response steps in this process on a local demo node, as a worker would, and its
post-mortem is drafted, submitted and published like any other.

Everything it makes is titled "[demo] ..." so nobody mistakes it for real.
"""

import itertools
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from changes import services
from changes.forms import ImplementationForm, ProposalForm
from changes.models import Proposal
from fleet.models import Node
from incidents import notices, postmortems, runbook
from incidents import services as incident_services
from incidents.models import Incident, Notice, ResponseStep
from incidents.tasks import run_step, unfreeze_node

from .demo_accounts import DEMO_USERS

DEMO = "[demo]"
DEMO_NODE = "demo-rpc"


# Each demo change gets its own planned window, so they do not conflict with each other.
_windows = itertools.count()


def proposal_form(title: str, **overrides) -> dict:
    now = timezone.now() + timedelta(hours=2 * next(_windows))
    data = {
        "category": "ops",
        "title": f"{DEMO} {title}",
        "summary": f"Demo data: {title.lower()} on the public rpc nodes.",
        "motivation": "Demo data, made by `manage.py demo_history` to show the lifecycle.",
        "change": "Edit `/etc/quantumpay/node.toml` on each rpc node and restart the service.",
        "components": "rpc",
        "environments": "mainnet",
        "risk": "low",
        "risk_assessment": "Demo data. One node at a time; the others keep serving.",
        "planned_start": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "planned_end": (now + timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "rollback_trigger": "Error rate above one percent for five minutes.",
        "rollback_steps": "Restore the previous node.toml from the backup and restart the service.",
        "rollback_verification": "Error rate back under the usual level; the rpc health check passes.",
        "rollback_minutes": "15",
        "review_hours": "72",
        "determinism_attestation": (
            "Demo data: rpc nodes do not produce blocks and this setting only changes how they "
            "serve requests, so block production and state transitions are untouched."),
        "config_keys": "rpc.max_connections",
    }
    data.update(overrides)
    return data


def valid(form):
    if not form.is_valid():
        raise CommandError(f"demo data no longer passes {type(form).__name__}: {form.errors.as_text()}")
    return form.cleaned_data


POSTMORTEM_BODY = """## Summary

Demo data. One public rpc node stopped answering for 12 minutes after a disk filled up.

## Impact

Wallets using the public rpc endpoint saw timeouts. Block production was not affected.

## Detection

The rpc health check alerted three minutes after the first failed request.

## Root cause

Log rotation was disabled on the node, so its logs filled the data disk.

## Trigger

A burst of debug logging after a configuration change.

## Resolution

The node was frozen, its logs preserved, old logs removed, and the node started again.

## Timeline

- 10:02 first failed request
- 10:05 alert, incident declared
- 10:14 node started again

## Action items

| Action | Owner | Due date |
| --- | --- | --- |
| Re-enable log rotation on every node | Core Ops | 2026-12-15 |

## Lessons learned

Check log rotation in the daily node checks.
"""


class Command(BaseCommand):
    help = ("Create a demo history (dev mode only): proposals in every state and a resolved "
            "incident with a published post-mortem, all titled [demo]. Running it again adds nothing.")

    def handle(self, *args, **options):
        if not settings.DEV:
            raise CommandError("the demo history is for QPGOV_ENV=dev only")
        people = {u.username: u for u in User.objects.filter(username__in=DEMO_USERS)}
        if len(people) < len(DEMO_USERS):
            call_command("demo_accounts", stdout=self.stdout)
            people = {u.username: u for u in User.objects.filter(username__in=DEMO_USERS)}
        if Proposal.objects.filter(title__startswith=DEMO).exists():
            self.stdout.write("demo proposals: already there")
        else:
            self.proposals(people)
        if Incident.objects.filter(title__startswith=DEMO).exists():
            self.stdout.write("demo incident: already there")
        else:
            self.incident(people)

    def proposals(self, people):
        alice, olga, oscar = people["alice"], people["olga"], people["oscar"]

        def propose(title, **overrides):
            return services.create_draft(alice, valid(ProposalForm(proposal_form(title, **overrides))))

        def submitted(title, **overrides):
            return services.submit(propose(title, **overrides).pk, alice)

        def vote(proposal, user, choice, reason=""):
            proposal.refresh_from_db()
            services.cast_vote(proposal.pk, user, choice, reason, proposal.content_hash,
                              confirms_determinism=True)

        def decided(proposal, at):
            services.decide(proposal.pk, at)  # what the decision sweep runs, at that moment
            proposal.refresh_from_db()
            return proposal

        def approved(title):
            proposal = submitted(title)
            vote(proposal, olga, "approve", "Looks safe; one node at a time.")
            return decided(proposal, proposal.earliest_decision_at)

        def implement(proposal, outcome, line):
            # Done once approved: the approval was taken ahead of the clock, so is this.
            data = {"outcome": outcome,
                    "performed_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
                    "verification_notes": "Demo data: checked the rpc health endpoint on each node.",
                    "rollback_notes": "Demo data: error rate rose; restored the old file."
                                      if outcome == "rolled_back" else "",
                    "public_changelog": line}
            return services.record_implementation(
                proposal.pk, olga, {**valid(ImplementationForm(data)),
                                    "performed_at": proposal.decided_at},
                now=proposal.decided_at)

        propose("Rotate the rpc TLS certificates")
        in_review = submitted("Raise p2p max peers on the rpc nodes")
        vote(in_review, olga, "approve", "Peer slots are full at peak hours.")
        services.withdraw(submitted("Move the metrics port").pk, alice,
                          "Demo data: superseded by a smaller change.")
        rejected = submitted("Turn off rate limiting on the public rpc")
        vote(rejected, oscar, "reject", "Demo data: the rate limit protects the nodes from floods.")
        decided(rejected, rejected.earliest_decision_at)
        expired = submitted("Change the default gas price hint")
        decided(expired, expired.deadline)
        approved("Enable HTTP/2 on the rpc load balancer")
        implement(approved("Raise the rpc request timeout to 30 s"), "implemented",
                  "Demo: raised the rpc request timeout to 30 seconds.")
        implement(approved("Compress rpc responses"), "rolled_back",
                  "Demo: enabled rpc response compression; rolled back after higher latency.")
        lapsed = approved("Resize the rpc node disks")
        decided(lapsed, lapsed.lapses_at)
        states = sorted(Proposal.objects.filter(title__startswith=DEMO).values_list("state", flat=True))
        self.stdout.write(f"demo proposals: {', '.join(states)}")

    def notice(self, incident, commander, status, impact, title, body):
        notice = notices.draft(incident, commander, status=status, impact=impact,
                               title=title, body=body)
        notices.publish(notice, commander)

    def incident(self, people):
        rita, carol, chris = people["rita"], people["carol"], people["chris"]
        call_command("demo_node", "--setup", "--name", DEMO_NODE, stdout=self.stdout)
        node = Node.objects.get(name=DEMO_NODE)
        incident = incident_services.declare(
            title=f"{DEMO} rpc node demo-rpc stopped answering", severity="SEV3", nodes=[node],
            declared_by=rita, summary="Demo data: the public rpc endpoint times out.")
        # The response steps, run here as the worker would run them.
        for step in incident.steps.exclude(kind=runbook.POSTMORTEM).order_by("position"):
            run_step(step.id)
        incident.refresh_from_db()
        if incident.state != Incident.CONTAINED:
            failed = incident.steps.exclude(status=ResponseStep.SUCCEEDED).values_list("kind", "last_error")
            raise CommandError(f"the demo incident did not get contained: {list(failed)}")
        # What the public saw meanwhile: the commander's notices on /status/.
        self.notice(incident, rita, Notice.IDENTIFIED, "minor",
                    f"{DEMO} Public RPC endpoint timing out",
                    "One RPC node stopped answering; block production is not affected. "
                    "The node is stopped while we look at its logs.")
        incident_services.acknowledge(incident, carol)
        incident_services.acknowledge(incident, chris)
        incident_services.resolve(incident, rita, unfreeze=[node],
                                  resolution="Demo data: removed old logs and started the node.")
        self.notice(incident, rita, Notice.RESOLVED, "none",
                    f"{DEMO} Public RPC endpoint answering again",
                    "The node is running again and the endpoint answers normally.")
        unfreeze_node(node.id)
        run_step(incident.steps.get(kind=runbook.POSTMORTEM).id)
        pm = Incident.objects.get(pk=incident.pk).postmortem
        pm = postmortems.save_draft(pm, rita, title=f"{DEMO} rpc endpoint timeouts for 12 minutes",
                                   body=POSTMORTEM_BODY)
        pm, report = postmortems.submit(pm, rita)
        if report.missing or report.findings:
            raise CommandError(f"the demo post-mortem no longer passes its checks: {report}")
        pm = postmortems.publish(pm, carol)
        self.stdout.write(f"demo incident #{incident.pk}: resolved; post-mortem published at "
                          f"{pm.get_public_url()}")
