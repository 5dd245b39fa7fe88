"""The Redis cache backend: a real Redis, one client per connection pool."""

import os

import pytest

from qpgov.cache import RedisCache

REDIS_URL = os.environ.get("QPGOV_REDIS_URL", "")

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs the CI Redis: QPGOV_REDIS_URL is set "
                                                      "by .ci/run on its PostgreSQL + Redis run")


def test_it_reuses_one_client_and_still_reads_and_writes():
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache"})
    cache.set("page", b"<html>", 30)
    cache.set("stamp", 1.5, 30)
    assert cache.get_many(["stamp", "page", "missing"]) == {"stamp": 1.5, "page": b"<html>"}
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    assert cache.add("stamp", 2.0, 30) is False
    cache.delete_many(["page", "stamp"])
    assert cache.get("page") is None
