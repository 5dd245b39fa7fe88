"""A round trip through the configured broker to a real Celery worker process."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def health(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", "qpgov_health", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_qpgov_health_gets_an_answer_from_the_worker(celery_worker, process_env):
    result = health(process_env, "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "worker: " in result.stdout and "answered in" in result.stdout


def test_qpgov_health_fails_when_the_broker_is_unreachable(process_env):
    env = dict(process_env, CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    result = health(env, "--timeout", "2")
    assert result.returncode != 0
    assert "could not publish" in result.stderr


def test_qpgov_health_fails_when_no_worker_answers(process_env, tmp_path):
    # A private file-system queue that no worker reads.
    env = dict(process_env, CELERY_BROKER_URL="filesystem://", QPGOV_VAR_DIR=str(tmp_path))
    result = health(env, "--timeout", "1")
    assert result.returncode != 0
    assert "no answer within 1 s" in result.stderr


def test_the_decision_sweep_runs_on_the_worker(celery_worker):
    from datetime import timedelta

    from changes.models import Proposal, State
    from changes.tasks import decide_due_proposals
    from qpgov import roles
    from tests.conftest import make_user, wait_for
    from tests.factories import in_review

    alice = make_user("alice", roles.PROPOSERS)
    make_user("olga", roles.CORE_OPS)
    proposal = in_review(alice)
    # Move the window into the past instead of moving the worker's clock.
    past = proposal.submitted_at - timedelta(hours=100)
    Proposal.objects.filter(pk=proposal.pk).update(
        window_opens_at=past, earliest_decision_at=past, deadline=past + timedelta(hours=72))
    decide_due_proposals.delay()
    wait_for(lambda: Proposal.objects.get(pk=proposal.pk).state == State.EXPIRED,
             message="the worker to expire the overdue proposal")
