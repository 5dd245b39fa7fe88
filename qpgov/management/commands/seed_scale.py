"""Generate a large, realistic data set quickly, for benchmarks (never in production)."""

import random
import time
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from changes import policy
from changes.models import Proposal, State, Vote
from qpgov import roles
from qpgov.models import GENESIS_HASH, ChainHead, Event

BATCH = 5000

TEXT = {
    "summary": "Raise max_peers from 50 to 80 on the public rpc nodes in mainnet.",
    "motivation": "Peer slots are exhausted at peak hours and new peers are refused.",
    "change": "Set `max_peers = 80` in `/etc/quantumpay/node.toml` and restart.",
    "components": "p2p, rpc",
    "risk_assessment": "Memory grows a little with more peers; there is headroom.",
    "rollback_trigger": "Memory above 80 percent or peer churn alerts for ten minutes.",
    "rollback_steps": "Set max_peers back to 50, then restart quantumpay-node on each node.",
    "rollback_verification": "Peer count settles at or below fifty and alerts clear.",
}
# A realistic spread: most proposals are long finished.
STATE_WEIGHTS = {
    State.IMPLEMENTED: 55, State.REJECTED: 8, State.EXPIRED: 7, State.WITHDRAWN: 6,
    State.ROLLED_BACK: 3, State.LAPSED: 3, State.APPROVED: 6, State.IN_REVIEW: 8, State.DRAFT: 4,
}


def seed_users():
    def user(name, *role_names):
        u, created = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.invalid"})
        if created:
            u.set_unusable_password()
            u.save()
            u.groups.set(Group.objects.filter(name__in=role_names))
        return u

    proposers = [user(f"scale-proposer-{i}", roles.PROPOSERS) for i in range(20)]
    ops = [user(f"scale-ops-{i}", roles.CORE_OPS) for i in range(5)]
    council = [user(f"scale-council-{i}", roles.COUNCIL) for i in range(5)]
    return proposers, ops, council


def make_proposals(count, proposers, ops, council, *, state=None, now=None, rng=None, due=False):
    """Bulk-insert `count` proposals (and their votes); return the new ids' range."""
    rng = rng or random.Random(1)  # noqa: S311 - repeatable test data, not secrets
    now = now or timezone.now()
    states, weights = zip(*STATE_WEIGHTS.items(), strict=True)
    created_ids = []
    for start in range(0, count, BATCH):
        rows = []
        for i in range(start, min(count, start + BATCH)):
            st = state or rng.choices(states, weights)[0]
            category = policy.OPS if i % 3 else policy.GOVERNANCE
            if due:
                opened = now - timedelta(hours=80)
            elif st == State.IN_REVIEW:
                opened = now - timedelta(hours=rng.randint(0, 23))  # not yet due
            else:
                opened = now - timedelta(days=rng.randint(3, 900))
            p = Proposal(
                state=st, category=category, proposer=proposers[i % len(proposers)],
                title=f"Scale change {i}: adjust rpc peer limits", environments="mainnet",
                risk="low", planned_start=opened + timedelta(days=4),
                planned_end=opened + timedelta(days=4, hours=2), rollback_minutes=15,
                created_at=opened, updated_at=opened, **TEXT,
            )
            # Bulk seeding sets the state directly on purpose: these rows stand
            # for history, not for decisions taken now.
            if st != State.DRAFT:
                p.revision = 1
                p.content_hash = p.compute_content_hash()
                p.policy_in_force = policy.snapshot(category)
                p.required_approvals = 1 if category == policy.OPS else 3
                p.submitted_at = p.window_opens_at = opened
                p.earliest_decision_at = opened + timedelta(hours=24)
                p.deadline = opened + timedelta(hours=72)
            if st not in (State.DRAFT, State.IN_REVIEW, State.WITHDRAWN):
                p.decided_at = opened + timedelta(hours=30)
            if st == State.APPROVED:
                p.lapses_at = now + timedelta(days=rng.randint(1, 13))
            rows.append(p)
        Proposal.objects.bulk_create(rows, batch_size=BATCH)
        created = list(
            Proposal.objects.order_by("-pk")
            .values_list("pk", "category", "state", "content_hash")[: len(rows)]
        )
        votes = []
        for pk, category, st, content_hash in created:
            if st in (State.DRAFT, State.WITHDRAWN):
                continue
            voters = ops[:2] if category == policy.OPS else council[:3]
            for voter in voters:
                votes.append(Vote(proposal_id=pk, voter=voter, revision=1,
                                  revision_hash=content_hash, choice=Vote.APPROVE, cast_at=now))
        Vote.objects.bulk_create(votes, batch_size=BATCH)
        created_ids.extend(pk for pk, *_ in created)
    return created_ids


def make_events(count, subject_ids, actors, rng=None):
    """Append `count` valid, chained events about the given proposals."""
    rng = rng or random.Random(2)  # noqa: S311 - repeatable test data, not secrets
    kinds = [("transition", "draft", "in_review"), ("vote", "", ""), ("transition", "in_review", "approved"),
             ("transition", "approved", "implemented"), ("amended", "", "")]
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().get(pk=1)
        seq, prev = head.seq, head.hash or GENESIS_HASH
        now = timezone.now()
        batch = []
        for i in range(count):
            kind, before, after = kinds[i % len(kinds)]
            actor = actors[i % len(actors)]
            seq += 1
            at = now - timedelta(seconds=count - i)
            e = Event(seq=seq, subject_type="changes.proposal", subject_id=rng.choice(subject_ids),
                      kind=kind, actor=actor, actor_name=actor.username, from_state=before,
                      to_state=after, note="", revision_hash="", data={"i": i},
                      occurred_at=at, recorded_at=at, prev_hash=prev)
            e.seal()
            prev = e.hash
            batch.append(e)
            if len(batch) == BATCH:
                Event.objects.bulk_create(batch, batch_size=BATCH)
                batch = []
        Event.objects.bulk_create(batch, batch_size=BATCH)
        ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


def make_incidents(count, responders, rng=None):
    """Bulk-insert finished incidents, each with its five steps, one try per step and node,
    and a logs and a snapshot evidence record per node. Rows only: no files, no events."""
    from fleet.models import Node
    from incidents import runbook
    from incidents.models import Evidence, Incident, IncidentNode, ResponseStep, StepAttempt

    rng = rng or random.Random(3)  # noqa: S311 - repeatable test data, not secrets
    now = timezone.now()
    nodes = [Node.objects.get_or_create(name=f"scale-validator-{i}",
                                        defaults={"environment": "mainnet", "role": "validator"})[0]
             for i in range(10)]
    kinds = list(runbook.STEP_LABELS)
    version = runbook.CURRENT_VERSION
    done = 0
    while done < count:
        size = min(BATCH // 10, count - done)
        incidents = []
        for i in range(size):
            declared = now - timedelta(days=rng.randint(1, 900), minutes=rng.randint(0, 1440))
            who = responders[(done + i) % len(responders)]
            incidents.append(Incident(
                state=Incident.POSTMORTEM_DRAFTED, title=f"Scale incident {done + i}: block stall",
                severity=rng.choice(["SEV1", "SEV2", "SEV3"]), summary="Blocks stopped.",
                detected_at=declared, declared_at=declared, declared_by=who, commander=who,
                runbook_version=version, resolved_at=declared + timedelta(hours=2),
                resolution="Restarted from the daily snapshot."))
        Incident.objects.bulk_create(incidents)
        created = list(Incident.objects.order_by("-pk")[:size])
        links, steps = [], []
        for incident in created:
            affected = rng.sample(nodes, 2)
            incident._scale_nodes = affected
            links += [IncidentNode.copy_of(incident, n) for n in affected]
            for position, kind in enumerate(kinds, 1):
                at = incident.declared_at + timedelta(minutes=position)
                steps.append(ResponseStep(incident=incident, kind=kind, position=position,
                                          status=ResponseStep.SUCCEEDED, attempts=1,
                                          started_at=at, finished_at=at + timedelta(seconds=20)))
        IncidentNode.objects.bulk_create(links)
        ResponseStep.objects.bulk_create(steps)
        by_incident = {i.pk: i for i in created}
        tries, evidence = [], []
        for step in ResponseStep.objects.filter(incident__in=created).only(
                "id", "incident_id", "kind", "started_at"):
            incident = by_incident[step.incident_id]
            for node in incident._scale_nodes:
                tries.append(StepAttempt(step_id=step.pk, node=node, attempt=1,
                                         status=ResponseStep.SUCCEEDED, started_at=step.started_at,
                                         finished_at=step.started_at + timedelta(seconds=5),
                                         exit_code=0, output_sha256="0" * 64))
                if step.kind in (runbook.PRESERVE_LOGS, runbook.SNAPSHOT):
                    kind = Evidence.LOGS if step.kind == runbook.PRESERVE_LOGS else Evidence.SNAPSHOT
                    evidence.append(Evidence(
                        incident=incident, node=node, kind=kind, size=rng.randint(1000, 10**8),
                        storage_name=f"scale/incident-{incident.pk}/{node.name}-{kind}",
                        sha256=f"{rng.getrandbits(256):064x}", collected_at=step.started_at))
        StepAttempt.objects.bulk_create(tries, batch_size=BATCH)
        Evidence.objects.bulk_create(evidence, batch_size=BATCH)
        done += size


class Command(BaseCommand):
    help = "Bulk-generate proposals with votes and a valid chain of log events, for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--proposals", type=int, default=100_000)
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--incidents", type=int, default=10_000)
        parser.add_argument("--yes", action="store_true", help="confirm on a non-empty database")

    def handle(self, *args, proposals, events, incidents, yes, **options):
        if Proposal.objects.exists() and not yes:
            raise CommandError("the database already has proposals; pass --yes to add more")
        started = time.monotonic()
        proposers, ops, council = seed_users()
        ids = make_proposals(proposals, proposers, ops, council)
        self.stdout.write(f"{len(ids):,} proposals with votes in {time.monotonic() - started:.1f} s")
        mark = time.monotonic()
        if events and ids:
            make_events(events, ids, proposers + ops + council)
        self.stdout.write(f"{events:,} chained events in {time.monotonic() - mark:.1f} s")
        mark = time.monotonic()
        if incidents:
            make_incidents(incidents, proposers[:5])
        self.stdout.write(f"{incidents:,} incidents with steps, tries and evidence in "
                          f"{time.monotonic() - mark:.1f} s")
