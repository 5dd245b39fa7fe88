"""The signed-in home page lists what waits for this person (issue 17, item 5)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes import services as change_services
from incidents import postmortems
from incidents.models import Acknowledgement, Incident, ResponseStep
from qpgov import roles
from qpgov.inbox import LIMIT
from tests import postmortem_factories as pmf
from tests.conftest import make_user
from tests.factories import draft, in_review, vote


def home(client, user) -> str:
    client.force_login(user)
    html = client.get("/").content.decode()
    return html[html.index("<main"):]


def section(html: str, heading: str) -> str:
    start = html.index(f">{heading}")
    return html[start:html.index("</section>", start)]


def stuck_step(incident):
    return ResponseStep.objects.create(incident=incident, kind="snapshot", position=3,
                                       status=ResponseStep.NEEDS_HUMAN, attempts=3,
                                       last_error="ssh: connect to host timed out")


def test_a_core_ops_member_sees_the_votes_due_with_the_time_left(client, alice, olga, oscar):
    p = in_review(alice, title="Raise max peers on rpc-2")
    votes = section(home(client, olga), "Votes due")
    assert "Raise max peers on rpc-2" in votes and p.get_absolute_url() in votes
    assert "left · deadline" in votes
    vote(p, olga)
    assert "Raise max peers on rpc-2" not in section(home(client, olga), "Votes due")
    # The proposer never votes on their own proposal.
    assert "Votes due" not in home(client, alice)


def test_a_proposer_sees_their_own_drafts_and_open_proposals(client, alice, olga):
    draft(alice, title="Rotate the rpc TLS certificates")
    mine = section(home(client, alice), "Your drafts and open proposals")
    assert "Rotate the rpc TLS certificates" in mine and "Draft" in mine


def test_a_responder_sees_open_incidents_and_steps_needing_a_human(client, rita):
    incident = pmf.incident(rita, "Validator double-signing")
    Incident.objects.filter(pk=incident.pk).update(state=Incident.CONTAINED)
    stuck_step(incident)
    html = home(client, rita)
    assert "ready for you to resolve" in section(html, "Open incidents")
    steps = section(html, "Steps needing a human")
    assert "Snapshot state" in steps and "timed out" in steps


def test_a_council_member_sees_acknowledgements_and_reviews_but_not_their_own_text(
        client, rita, carol, make_council_responder):
    incident = pmf.incident(rita, "Fork at height 10")
    Incident.objects.filter(pk=incident.pk).update(state=Incident.RESPONDING)
    in_review_pm = pmf.in_review(rita, title="Blocks stalled on validator-3")
    html = home(client, carol)
    assert "Fork at height 10" in section(html, "Acknowledgements pending")
    assert "Blocks stalled on validator-3" in section(html, "Post-mortems to review")
    Acknowledgement.objects.create(incident=incident, user=carol)
    assert "Fork at height 10" not in section(home(client, carol), "Acknowledgements pending")
    # Someone who edited the text may not review it, so it does not wait for them.
    pm = pmf.draft(rita, title="Peers dropped after the upgrade")
    postmortems.save_draft(pm, make_council_responder, body=pm.body + "\n\nEdited.")
    postmortems.submit(pm, rita)
    theirs = section(home(client, make_council_responder), "Post-mortems to review")
    assert "Peers dropped after the upgrade" not in theirs
    assert in_review_pm.title in theirs


def test_someone_without_a_role_is_told_so(client, eve):
    assert "holds no qpgov role" in home(client, eve)


def _world(n, alice, others):
    for i in range(n):
        p = in_review(alice, title=f"Change number {i} for the inbox")
        if i % 2:
            vote(p, others[0])
            change_services.decide(p.pk, p.earliest_decision_at)
        incident = pmf.incident(others[1], f"Incident number {i}")
        Incident.objects.filter(pk=incident.pk).update(state=Incident.RESPONDING)
        stuck_step(incident)
        pmf.in_review(others[1], title=f"Post-mortem number {i}")
        draft(others[2], title=f"Own draft {i}")


def test_the_home_page_costs_the_same_however_much_waits(client, django_assert_max_num_queries,
                                                        alice, olga, rita):
    everyone = make_user("max", roles.PROPOSERS, roles.CORE_OPS, roles.COUNCIL, roles.RESPONDERS)
    client.force_login(everyone)
    # Enough that every section is past its limit (half the proposals get approved).
    _world(2 * LIMIT + 2, alice, (olga, rita, everyone))
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    _world(2 * LIMIT, alice, (olga, rita, everyone))
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get("/").content.decode()
    assert html.count("Change number") >= LIMIT and "Incident number" in html
    assert len(few.captured_queries) < 30


def test_firing_alerts_without_an_incident_wait_for_the_alert_readers(client, olga, rita):
    from fleet.models import AlertGroup

    lonely = AlertGroup.objects.create(key_hash="a" * 64, group_key="{}:{alertname=\"Halt\"}",
                                       group_labels={"alertname": "BlockProductionHalted"},
                                       awaiting_confirmation=True,
                                       confirmation_note="no alert names a registered node")
    handled = AlertGroup.objects.create(key_hash="b" * 64, group_key="{}:{alertname=\"Peers\"}",
                                        group_labels={"alertname": "PeersLow"})
    incident = pmf.incident(rita, "Peers dropped")
    incident.alert_groups.add(handled)
    AlertGroup.objects.create(key_hash="c" * 64, group_key="{}:{alertname=\"Old\"}",
                              group_labels={"alertname": "DiskFull"}, status=AlertGroup.RESOLVED)
    alerts = section(home(client, olga), "Firing alerts without an incident")
    assert "alertname=BlockProductionHalted" in alerts and lonely.get_absolute_url() in alerts
    assert "awaiting confirmation" in alerts
    assert "PeersLow" not in alerts and "DiskFull" not in alerts


def test_the_always_firing_watchdog_is_never_a_firing_alert_without_an_incident(client, olga,
                                                                                 settings):
    from fleet.models import AlertReceiver
    from tests.alert_payloads import alert, payload
    from tests.test_alerts_intake import deliver

    receiver = AlertReceiver(name="am")
    token = receiver.issue_token()
    receiver.save()
    watchdog = settings.QPGOV_ALERT_WATCHDOG_NAME
    deliver(client, payload([alert(alertname=watchdog, instance="prometheus:9090")],
                            group_key=f'{{}}:{{alertname="{watchdog}"}}'), token)
    alerts = section(home(client, olga), "Firing alerts without an incident")
    assert watchdog not in alerts and "No alert is firing without an incident." in alerts
    # A real alert in the same group (group_by left empty) still shows the group.
    deliver(client, payload([alert(alertname=watchdog, instance="prometheus:9090"),
                             alert(instance="validator-9:9100")],
                            group_key=f'{{}}:{{alertname="{watchdog}"}}'), token)
    alerts = section(home(client, olga), "Firing alerts without an incident")
    assert f"alertname={watchdog}" in alerts


def test_an_unratified_change_waits_in_core_ops_inbox_until_its_rollback_is_recorded(
        client, alice, olga, oscar, rita):
    from django.utils import timezone

    from tests.factories import emergency_in_review, implementation_data, sev1

    p = emergency_in_review(alice, sev1(olga, rita))
    vote(p, olga)
    vote(p, oscar)
    change_services.record_implementation(p.pk, olga, implementation_data())
    p.refresh_from_db()
    change_services.decide(p.pk, p.deadline)
    rollbacks = section(home(client, oscar), "Rollbacks required")
    assert p.title in rollbacks and f"/changes/{p.pk}/rollback/" in rollbacks
    assert "Rollbacks required" not in home(client, alice)  # not a Core Ops member
    change_services.record_rollback(p.pk, olga, {
        "performed_at": timezone.now(),
        "rollback_notes": "Restored the previous timeout and restarted every validator."})
    assert "Rollbacks required" not in home(client, oscar)


def test_the_time_left_to_vote_runs_to_the_decision_once_the_policy_is_met(
        client, alice, olga, oscar):
    """One Core Ops approval meets an Ops change's policy: it is decided when the minimum
    window ends, two days before the deadline, so that is the time left (review 17)."""
    from django.utils import timezone
    from django.utils.timesince import timeuntil

    from changes import status
    p = in_review(alice, title="Raise max peers on rpc-2")
    vote(p, olga)
    p.refresh_from_db()
    assert p.earliest_decision_at < p.deadline
    row = section(home(client, oscar), "Votes due")
    now = timezone.now()
    decided = f"{p.earliest_decision_at:%Y-%m-%d %H:%M} UTC"
    assert f"decided {decided} unless votes change" in row
    assert f"{timeuntil(p.earliest_decision_at, now)} left" in row
    assert timeuntil(p.deadline, now) not in row
    # The same moment the proposal's own status line gives.
    assert f"Approved automatically at {decided}" in status.status_line(p, now)


def test_the_counts_for_a_list_are_those_the_decision_takes(alice, olga, oscar, carol):
    """services.tallies (the home page's, three queries) counts as services.tally does."""
    from changes import services
    from changes.models import Proposal
    governance = make_user("gina", roles.COUNCIL)
    plain = in_review(alice)
    approved = in_review(alice, title="The approved one")
    vote(approved, olga)
    rejected = in_review(alice, title="The rejected one")
    vote(rejected, oscar, "reject", "Not during the upgrade.")
    set_aside = in_review(alice, title="A voter left")
    vote(set_aside, olga)
    vote(set_aside, oscar)
    oscar.is_active = False
    oscar.save()
    council = in_review(alice, category="governance", title="The council one")  # a majority rule
    vote(council, carol)
    vote(council, governance, "reject", "Not this quarter.")
    proposals = list(Proposal.objects.filter(pk__in=[p.pk for p in (
        plain, approved, rejected, set_aside, council)]))
    batch = services.tallies(proposals)
    for p in proposals:
        assert batch[p.pk] == services.tally(p), p.title


def test_silent_monitoring_is_said_first_where_firing_alerts_are_listed(client, olga):
    """An empty list of firing alerts is not an all clear while the watchdog is unheard."""
    from datetime import timedelta

    from django.utils import timezone

    from fleet.models import MonitoringSilence
    alerts = section(home(client, olga), "Firing alerts without an incident")
    assert "Monitoring silent" not in alerts and "No alert is firing without an incident." in alerts
    since = timezone.now() - timedelta(minutes=25)
    silence = MonitoringSilence.objects.create(started_at=since)
    alerts = section(home(client, olga), "Firing alerts without an incident")
    assert "Monitoring silent: alerts may not be reaching qpgov" in alerts
    assert f"not been heard since {since:%Y-%m-%d %H:%M} UTC" in alerts
    silence.ended_at, silence.open = timezone.now(), None
    silence.save()
    assert "Monitoring silent" not in section(home(client, olga), "Firing alerts without an incident")
