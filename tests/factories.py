"""Plain helpers that build proposals through the same services the web uses."""

from datetime import timedelta

from django.utils import timezone

from changes import services


def proposal_data(**overrides) -> dict:
    now = timezone.now()
    data = {
        "category": "ops",
        "title": "Raise p2p max peers on rpc nodes",
        "summary": "Raise max_peers from 50 to 80 on the three public rpc nodes in mainnet.",
        "motivation": "Peer slots are exhausted at peak hours and new peers are refused often.",
        "change": "Set `max_peers = 80` in `/etc/quantumpay/node.toml` and restart the service.",
        "components": "p2p, rpc",
        "environments": "mainnet",
        "risk": "low",
        "risk_assessment": "Memory grows a little with more peers; the nodes have ample headroom.",
        "planned_start": now + timedelta(days=4),
        "planned_end": now + timedelta(days=4, hours=2),
        "rollback_trigger": "Memory above 80 percent or peer churn alerts for ten minutes.",
        "rollback_steps": (
            "Set max_peers back to 50 in node.toml, then restart quantumpay-node on each rpc node."
        ),
        "rollback_verification": "Peer count settles at or below fifty and alerts clear.",
        "rollback_minutes": 15,
        "review_hours": 72,
        "determinism_attestation": (
            "Peer limits only change how many connections a node accepts; block production, "
            "mempool ordering and state transitions do not read this setting."
        ),
        "config_keys": "p2p.max_peers",
    }
    data.update(overrides)
    return data


def form_data(**overrides) -> dict:
    """The same data as a browser would POST it."""
    data = proposal_data(**overrides)
    for key in ("planned_start", "planned_end"):
        data[key] = data[key].strftime("%Y-%m-%dT%H:%M")
    return data


def draft(proposer, **overrides):
    return services.create_draft(proposer, proposal_data(**overrides))


def in_review(proposer, **overrides):
    proposal = draft(proposer, **overrides)
    return services.submit(proposal.pk, proposer)


def vote(proposal, voter, choice="approve", reason=""):
    proposal.refresh_from_db()
    if choice == "reject" and not reason:
        reason = "Not safe during the upgrade freeze."
    return services.cast_vote(proposal.pk, voter, choice, reason, proposal.content_hash,
                              confirms_determinism=True)


def sev1(declared_by, commander, *nodes, severity="SEV1", title="Mainnet halted at height 5000"):
    """An open incident on `nodes` (mainnet validators made here if none are given)."""
    from fleet.models import Node
    from incidents import services as incident_services

    if not nodes:
        nodes = [Node.objects.get_or_create(name="validator-1",
                                            defaults={"environment": "mainnet"})[0]]
    return incident_services.declare(title=title, severity=severity, nodes=list(nodes),
                                     declared_by=declared_by, commander=commander,
                                     summary="Blocks stopped; responders are on it.")


def emergency_data(incident, **overrides) -> dict:
    data = proposal_data(
        title="Roll back the faulty timeout on validators",
        emergency=True, incident=incident, nodes=list(incident.nodes.all()),
        emergency_justification="Mainnet is halted: every hour without the fix is an hour "
                                "without blocks.",
        on_call="rita (incident commander), olga (Core Ops)",
        config_keys="p2p.handshake_timeout",
        components="p2p",
    )
    data.update(overrides)
    return data


def emergency_in_review(proposer, incident, **overrides):
    proposal = services.create_draft(proposer, emergency_data(incident, **overrides))
    return services.submit(proposal.pk, proposer)


def implementation_data(outcome="implemented", **overrides) -> dict:
    data = {
        "outcome": outcome, "performed_at": timezone.now(),
        "verification_notes": "Checked every node reports the new value.",
        "rollback_notes": "Restored the previous config and restarted the nodes.",
        "public_changelog": "Raised the peer limit on public rpc nodes.",
    }
    data.update(overrides)
    return data
