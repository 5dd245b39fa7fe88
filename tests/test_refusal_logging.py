"""A refused request is one line in the console, not a traceback printed twice (issue 17)."""

import logging

from django.urls import reverse


def test_a_403_is_logged_once_without_a_traceback(client, alice, caplog):
    client.force_login(alice)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("incidents:list")).status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Forbidden") and records[0].exc_info is None
    assert logging.getLogger("django").handlers == []


def test_a_server_error_keeps_its_traceback():
    from qpgov.logfilters import RefusalsWithoutTraceback
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server "
                                   "Error", (), sys.exc_info())
    record.status_code = 500
    assert RefusalsWithoutTraceback().filter(record) and record.exc_info is not None
