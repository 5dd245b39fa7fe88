"""The Redis cache backend: one client per connection pool, and a miss when Redis is down."""

import os

import pytest
from django.test import override_settings
from django.urls import reverse

from qpgov.cache import RedisCache

REDIS_URL = os.environ.get("QPGOV_REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="needs the CI Redis: QPGOV_REDIS_URL is set by .ci/run "
                                          "on its PostgreSQL + Redis run")
def test_it_reuses_one_client_and_still_reads_and_writes():
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache"})
    cache.set("page", b"<html>", 30)
    cache.set("stamp", 1.5, 30)
    assert cache.get_many(["stamp", "page", "missing"]) == {"stamp": 1.5, "page": b"<html>"}
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    assert cache.add("stamp", 2.0, 30) is False
    cache.delete_many(["page", "stamp"])
    assert cache.get("page") is None


def test_an_unreachable_redis_is_a_miss_not_an_error(caplog):
    cache = RedisCache("redis://127.0.0.1:1/0", {})  # nothing listens on port 1
    assert cache.get_many(["stamp", "page"]) == {}
    assert cache.get("page", "default") == "default"
    cache.set("page", b"<html>", 30)
    assert cache.add("stamp", 1.5, 30) is False
    assert cache.delete("stamp") is False
    assert "cache unreachable" in caplog.text


@override_settings(CACHES={"default": {"BACKEND": "qpgov.cache.RedisCache",
                                       "LOCATION": "redis://127.0.0.1:1/0"}})
def test_pages_are_served_from_the_database_while_redis_is_down(client, alice, olga, db):
    client.get(reverse("changes:public"))
    assert client.get(reverse("changes:public")).status_code == 200
    assert client.get(reverse("postmortems:list")).status_code == 200
    client.force_login(olga)
    assert client.get(reverse("changes:list")).status_code == 200
