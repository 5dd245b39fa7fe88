"""/metrics: what it says about incidents and proposals, who may read it, and what it costs."""

import os
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from changes.models import Proposal, State
from incidents import runbook
from incidents.models import Incident, ResponseStep
from qpgov import metrics
from qpgov.celery import app
from tests import factories
from tests.conftest import ROOT
from tests.test_settings import run_manage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def scrape(client, **headers) -> dict:
    """Scrape /metrics through the test client: {sample name: {labels tuple: value}}."""
    response = client.get(reverse("metrics"), **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def parse(text: str) -> dict:
    samples: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def incident(rita, severity, state=Incident.DECLARED, declared_at=T0, frozen_after=None,
             freeze_ran_for=timedelta(seconds=10)):
    """An incident with its five steps; with `frozen_after`, its freeze step succeeded then."""
    row = Incident.objects.create(title=f"{severity} incident", severity=severity,
                                  declared_by=rita, commander=rita, runbook_version="2026.1",
                                  declared_at=declared_at, detected_at=declared_at)
    Incident.objects.filter(pk=row.pk).update(state=state)
    ResponseStep.objects.bulk_create(ResponseStep(incident=row, kind=kind, position=i)
                                     for i, kind in enumerate(runbook.RUNBOOKS["2026.1"].steps, 1))
    if frozen_after is not None:
        finished = declared_at + frozen_after
        ResponseStep.objects.filter(incident=row, kind=runbook.FREEZE).update(
            status=ResponseStep.SUCCEEDED, started_at=finished - freeze_ran_for, finished_at=finished)
    return row


def decided(alice, state, category, review_took):
    proposal = factories.draft(alice, category=category)
    Proposal.objects.filter(pk=proposal.pk).update(state=state, submitted_at=T0,
                                                   decided_at=T0 + review_took)
    return proposal


@pytest.fixture
def records(alice, rita, olga, carol, chris, cora):
    """Two open incidents (SEV1 frozen in 90 s, SEV2 in 20 min), one resolved, and proposals."""
    incident(rita, "SEV1", Incident.CONTAINED, frozen_after=timedelta(seconds=90))
    incident(rita, "SEV2", Incident.RESPONDING, frozen_after=timedelta(minutes=20),
             freeze_ran_for=timedelta(minutes=3))
    incident(rita, "SEV3", Incident.RESOLVED, frozen_after=timedelta(hours=30))
    factories.in_review(alice, category="ops")
    factories.in_review(alice, category="ops")
    factories.in_review(alice, category="governance")
    factories.draft(alice, category="protocol")
    decided(alice, State.APPROVED, "ops", timedelta(hours=30))
    decided(alice, State.IMPLEMENTED, "ops", timedelta(hours=70))
    decided(alice, State.REJECTED, "governance", timedelta(hours=2))
    decided(alice, State.WITHDRAWN, "ops", timedelta(hours=1))  # not a decision: left out


def test_it_counts_open_incidents_by_severity_with_zero_for_the_quiet_ones(client, records):
    samples = scrape(client)["qpgov_incidents_open"]
    assert samples == {(("severity", "SEV1"),): 1, (("severity", "SEV2"),): 1,
                       (("severity", "SEV3"),): 0}


def test_it_builds_time_to_containment_from_declaration_to_the_freeze(client, records):
    samples = scrape(client)
    sev1 = {dict(k)["le"]: v for k, v in samples["qpgov_incident_time_to_containment_seconds_bucket"]
            .items() if dict(k)["severity"] == "SEV1"}
    assert sev1["60.0"] == 0 and sev1["120.0"] == 1 and sev1["+Inf"] == 1
    sev2 = {dict(k)["le"]: v for k, v in samples["qpgov_incident_time_to_containment_seconds_bucket"]
            .items() if dict(k)["severity"] == "SEV2"}
    assert sev2["900.0"] == 0 and sev2["1800.0"] == 1
    # Resolved incidents stay in the histogram: it is the whole history.
    sums = samples["qpgov_incident_time_to_containment_seconds_sum"]
    assert sums == {(("severity", "SEV1"),): 90.0, (("severity", "SEV2"),): 1200.0,
                    (("severity", "SEV3"),): 30 * 3600.0}
    assert samples["qpgov_incident_time_to_containment_seconds_count"][(("severity", "SEV3"),)] == 1


def test_it_measures_each_step_run_by_step_and_outcome(client, records):
    samples = scrape(client)
    key = (("status", "succeeded"), ("step", "freeze"))
    assert samples["qpgov_incident_step_duration_seconds_count"] == {key: 3}
    assert samples["qpgov_incident_step_duration_seconds_sum"][key] == 10 + 180 + 10
    buckets = {dict(k)["le"]: v for k, v in samples["qpgov_incident_step_duration_seconds_bucket"].items()}
    assert buckets["5.0"] == 0 and buckets["15.0"] == 2 and buckets["120.0"] == 2 and buckets["300.0"] == 3


def test_it_counts_proposals_in_review_by_category(client, records):
    assert scrape(client)["qpgov_proposals_in_review"] == {
        (("category", "governance"),): 1, (("category", "ops"),): 2, (("category", "protocol"),): 0}


def test_time_to_decision_counts_decisions_and_not_withdrawals(client, records):
    samples = scrape(client)
    counts = samples["qpgov_proposal_time_to_decision_seconds_count"]
    assert counts == {(("category", "ops"), ("decision", "approved")): 2,
                      (("category", "governance"), ("decision", "rejected")): 1}
    sums = samples["qpgov_proposal_time_to_decision_seconds_sum"]
    assert sums[(("category", "ops"), ("decision", "approved"))] == (30 + 70) * 3600
    ops = {dict(k)["le"]: v for k, v in samples["qpgov_proposal_time_to_decision_seconds_bucket"].items()
           if dict(k)["category"] == "ops"}
    assert ops["86400.0"] == 0 and ops["172800.0"] == 1 and ops["259200.0"] == 2 and ops["+Inf"] == 2


def test_every_collector_reports_itself_up(client, records):
    assert scrape(client)["qpgov_metrics_collector_up"] == {
        (("collector", name),): 1
        for name in ("alerts", "celery_broker", "changes", "checkpoints", "incidents")}


@pytest.mark.parametrize("copies", [1, 20])
def test_a_scrape_costs_one_query_per_database_family(alice, rita, copies, django_assert_num_queries):
    for _ in range(copies):
        incident(rita, "SEV1", frozen_after=timedelta(minutes=2))
        decided(alice, State.REJECTED, "ops", timedelta(hours=3))
    # Incidents: open, containment, step duration. Changes: in review, time to decision.
    # Alerts: processed deliveries, deliveries by status, firing, monitoring silent.
    # Checkpoints: the latest one and the chain head.
    with django_assert_num_queries(11):
        text = metrics.exposition().decode()
    assert f'qpgov_incident_time_to_containment_seconds_count{{severity="SEV1"}} {copies}.0' in text


def test_a_collector_registered_through_the_hook_is_in_every_scrape(client, db, monkeypatch):
    class Things:
        def collect(self):
            yield metrics.gauge_by_label("qpgov_test_things", "Things, by kind.", "kind", {"a": 2},
                                         known=["b"])

    monkeypatch.setattr(metrics, "_collectors", dict(metrics._collectors))
    metrics.register("things", Things())
    samples = scrape(client)
    assert samples["qpgov_test_things"] == {(("kind", "a"),): 2, (("kind", "b"),): 0}
    assert samples["qpgov_metrics_collector_up"][(("collector", "things"),)] == 1


def test_the_checkpoint_metrics_give_its_age_and_the_events_it_does_not_cover(client, db, tmp_path,
                                                                            settings):
    from qpgov import checkpoints, eventlog
    from qpgov.models import ChainHead

    samples = scrape(client)
    assert "qpgov_checkpoint_age_seconds" not in samples  # nothing signed yet
    assert samples["qpgov_event_log_unsigned_events"] == {(): 0}
    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "key.pem")
    checkpoints.generate_key_file(tmp_path / "key.pem")
    head = ChainHead.objects.get()
    eventlog.append(head, "metrics_test")
    eventlog.append(head, "metrics_test")
    signed_at = timezone.now() - timedelta(minutes=10)
    with time_machine.travel(signed_at, tick=False):
        checkpoints.sign_checkpoint()
    eventlog.append(head, "metrics_test")
    samples = scrape(client)
    assert samples["qpgov_event_log_unsigned_events"] == {(): 1}
    age = samples["qpgov_checkpoint_age_seconds"][()]
    assert 600 <= age < 660
    assert samples["qpgov_checkpoint_forged"] == {(): 0}


def test_a_forged_checkpoint_row_neither_freshens_the_age_nor_goes_unnoticed(client, db, tmp_path,
                                                                           settings):
    from qpgov import checkpoints, eventlog
    from qpgov.models import ChainHead, Checkpoint

    settings.QPGOV_CHECKPOINT_KEY_FILE = str(tmp_path / "key.pem")
    checkpoints.generate_key_file(tmp_path / "key.pem")
    head = ChainHead.objects.get()
    eventlog.append(head, "metrics_test")
    with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=False):
        checkpoints.sign_checkpoint()
    Checkpoint.objects.create(number=2, size=head.seq + 99, head_hash="ab" * 32, note="forged\n",
                              signed_at=timezone.now())
    samples = scrape(client)
    assert samples["qpgov_checkpoint_forged"] == {(): 1}
    assert samples["qpgov_checkpoint_age_seconds"][()] >= 600


def test_a_failing_collector_is_reported_down_and_the_rest_still_answers(client, records, monkeypatch):
    class Broken:
        def collect(self):
            yield from ()
            raise RuntimeError("database went away")

    monkeypatch.setitem(metrics._collectors, "incidents", Broken())
    samples = scrape(client)
    assert samples["qpgov_metrics_collector_up"][(("collector", "incidents"),)] == 0
    assert samples["qpgov_metrics_collector_up"][(("collector", "changes"),)] == 1
    assert "qpgov_incidents_open" not in samples
    assert samples["qpgov_proposals_in_review"][(("category", "ops"),)] == 2


def test_request_metrics_count_requests_by_view_and_status(client, db):
    before = scrape(client)
    client.get(reverse("healthz"))
    client.get("/no-such-page")
    after = scrape(client)

    def count(samples, view, status):
        return samples.get("qpgov_http_requests_total", {}).get(
            (("method", "GET"), ("status", status), ("view", view)), 0)

    assert count(after, "healthz", "200") == count(before, "healthz", "200") + 1
    assert count(after, "unresolved", "404") == count(before, "unresolved", "404") + 1
    queries = after["qpgov_db_queries_total"][(("view", "healthz"),)]
    assert queries == before.get("qpgov_db_queries_total", {}).get((("view", "healthz"),), 0) + 1


# --- the Celery queue depth ---------------------------------------------------


def test_queue_depth_counts_waiting_messages_on_the_configured_broker(db):
    """Messages sent but not consumed show up; on Redis and on the file-system broker alike."""
    from qpgov.celery import app

    # A queue of its own, which the suite's Celery worker does not consume.
    queue = "qpgov-metrics-test"
    collector = metrics.CeleryQueueCollector(queues=[queue])
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
        try:
            assert _queue_length(collector, queue) == 0
            for _ in range(3):
                app.send_task("qpgov.metrics_test_never_runs", queue=queue, connection=conn)
            assert _queue_length(collector, queue) == 3
        finally:
            conn.default_channel.queue_purge(queue)
    assert _queue_length(collector, queue) == 0


def test_the_default_queue_is_the_one_celery_is_configured_with(client, db):
    assert (("queue", "celery"),) in scrape(client)["qpgov_celery_queue_length"]


def test_the_incident_steps_queue_is_measured_too(client, db):
    assert (("queue", "incident-steps"),) in scrape(client)["qpgov_celery_queue_length"]
    app.amqp.router.route({}, "incidents.run_step")  # rewrites the route it used, in place
    assert (("queue", "incident-steps"),) in scrape(client)["qpgov_celery_queue_length"]


def _queue_length(collector, queue):
    family = next(iter(collector.collect()))
    return {s.labels["queue"]: s.value for s in family.samples}[queue]


def test_an_unreachable_broker_is_reported_down_not_as_an_error(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # discard port: nothing listens
    samples = scrape(client)
    assert samples["qpgov_metrics_collector_up"][(("collector", "celery_broker"),)] == 0
    assert "qpgov_celery_queue_length" not in samples


def test_an_unknown_broker_is_reported_down(client, db, settings):
    settings.CELERY_BROKER_URL = "amqp://guest@127.0.0.1//"
    samples = scrape(client)
    assert samples["qpgov_metrics_collector_up"][(("collector", "celery_broker"),)] == 0


# --- who may read it -------------------------------------------------------------

TOKEN = secrets.token_urlsafe(32)


def test_with_nothing_configured_the_endpoint_does_not_exist(client, db, settings):
    settings.QPGOV_METRICS_TOKEN = ""
    settings.QPGOV_METRICS_ALLOWED_ADDRESSES = []
    assert client.get(reverse("metrics")).status_code == 404


def test_an_allowed_address_reads_without_a_token(client, db, settings):
    settings.QPGOV_METRICS_TOKEN = ""
    settings.QPGOV_METRICS_ALLOWED_ADDRESSES = ["10.1.2.0/24"]
    assert client.get(reverse("metrics"), REMOTE_ADDR="10.1.2.7").status_code == 200
    refused = client.get(reverse("metrics"), REMOTE_ADDR="10.1.3.7")
    assert refused.status_code == 403
    assert b"qpgov_" not in refused.content


def test_the_bearer_token_opens_it_from_any_address(client, db, settings):
    settings.QPGOV_METRICS_TOKEN = TOKEN
    settings.QPGOV_METRICS_ALLOWED_ADDRESSES = []
    ok = client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200
    assert b"qpgov_incidents_open" in ok.content


@pytest.mark.parametrize("authorization", [None, "", "Bearer", f"Bearer {TOKEN[:-1]}",
                                           f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer \u00e9t\u00e9"])
def test_a_missing_or_wrong_token_is_refused_with_401(client, db, settings, authorization):
    settings.QPGOV_METRICS_TOKEN = TOKEN
    settings.QPGOV_METRICS_ALLOWED_ADDRESSES = ["10.1.2.0/24"]
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"qpgov_" not in response.content


def test_it_only_answers_reads(client, db):
    assert client.post(reverse("metrics")).status_code == 405


def test_it_is_never_cached(client, db):
    assert "no-store" in client.get(reverse("metrics"))["Cache-Control"]


# --- the deploy check ---------------------------------------------------------


def test_check_deploy_warns_when_metrics_are_not_configured():
    result = run_manage("check", "--deploy", SECRET_KEY=secrets.token_urlsafe(50),
                        ALLOWED_HOSTS="gov.example.org")
    assert "qpgov.W110" in result.stdout + result.stderr


def test_check_deploy_warns_about_a_short_token_and_a_loopback_allow_list():
    result = run_manage("check", "--deploy", SECRET_KEY=secrets.token_urlsafe(50),
                        ALLOWED_HOSTS="gov.example.org", QPGOV_METRICS_TOKEN="short",
                        QPGOV_METRICS_ALLOWED_ADDRESSES="127.0.0.1")
    out = result.stdout + result.stderr
    assert "qpgov.W111" in out and "qpgov.W112" in out and "qpgov.W110" not in out


def test_a_malformed_allow_list_is_an_error():
    result = run_manage("check", QPGOV_ENV="dev", QPGOV_METRICS_ALLOWED_ADDRESSES="10.0.0.300")
    assert result.returncode != 0
    assert "qpgov.E110" in result.stdout + result.stderr


# --- promtool -------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI: .ci/run installs the prometheus package")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return path


def test_promtool_accepts_the_output_with_data_present(client, records):
    client.get(reverse("healthz"))  # so the request families have samples too
    text = client.get(reverse("metrics")).content
    assert b"qpgov_incident_time_to_containment_seconds_bucket" in text
    assert b"qpgov_proposal_time_to_decision_seconds_bucket" in text
    result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                            timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_promtool_can_fail_so_the_test_above_means_something():
    bad = b"# TYPE qpgov_thing counter\nqpgov_thing 1\n"  # a counter without _total
    result = subprocess.run([promtool(), "check", "metrics"], input=bad, capture_output=True,
                            timeout=60)
    assert result.returncode != 0


def test_the_shipped_scrape_config_is_valid(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    shipped = (ROOT / "deploy" / "prometheus" / "qpgov-scrape.yml").read_text()
    assert "/etc/prometheus/qpgov-metrics-token" in shipped
    config = tmp_path / "prometheus.yml"
    config.write_text(shipped.replace("/etc/prometheus/qpgov-metrics-token", str(token_file)))
    result = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
