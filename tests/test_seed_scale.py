from django.core.management import call_command

from changes.models import Proposal, Vote
from incidents.models import Evidence, Incident, ResponseStep, StepAttempt
from qpgov import eventlog
from qpgov.models import Event


def test_seed_scale_makes_every_kind_of_row_and_a_valid_chain(db):
    call_command("seed_scale", proposals=300, events=700, incidents=20, verbosity=0)
    assert Proposal.objects.count() == 300
    assert set(Proposal.objects.values_list("state", flat=True)) >= {"implemented", "in_review"}
    assert Vote.objects.exists()
    # Plus one role event for each of the 30 seeded people put in a role (qpgov/rolelog.py).
    assert Event.objects.exclude(kind="roles_changed").count() == 700
    assert Event.objects.filter(kind="roles_changed").count() == 30
    assert eventlog.verify() == (730, None)
    assert Incident.objects.count() == 20
    assert ResponseStep.objects.count() == 100
    assert StepAttempt.objects.count() == 200  # two nodes per incident, one try per step
    assert Evidence.objects.count() == 80  # logs and snapshot per node
