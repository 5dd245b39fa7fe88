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
    return services.cast_vote(proposal.pk, voter, choice, reason, proposal.content_hash)
