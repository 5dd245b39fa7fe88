"""Django's Redis cache backend, sharing one client per pool and failing open.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call, and
redis-py 8 fills a table of about 170 response callbacks in each constructor:
measured in-process, that was 0.17 ms per call, more than a bare Django view
costs. A client is only a thin handle on its pool and is safe to share, so each
pool keeps one.

The cache holds only work that can be done again (rendered public pages and
list rows, page stamps), never sessions or anything else that must be right.
So while Redis is unreachable a read misses and a write is dropped: pages are
rendered from the database instead of failing.
"""

import logging

from django.core.cache.backends import redis
from redis.exceptions import ConnectionError, TimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (ConnectionError, TimeoutError)


def _unreachable(error: Exception) -> None:
    logger.warning("cache unreachable, rendering without it: %s", error)


class RedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def get(self, key, default):
        try:
            return super().get(key, default)
        except UNREACHABLE as error:
            _unreachable(error)
            return default

    def get_many(self, keys):
        try:
            return super().get_many(keys)
        except UNREACHABLE as error:
            _unreachable(error)
            return {}

    def add(self, key, value, timeout):
        try:
            return super().add(key, value, timeout)
        except UNREACHABLE as error:
            _unreachable(error)
            return False

    def set(self, key, value, timeout):
        try:
            super().set(key, value, timeout)
        except UNREACHABLE as error:
            _unreachable(error)

    def delete(self, key):
        # A dropped delete of a page stamp leaves it until it expires
        # (pagecache.STAMP_TTL); a Redis that restarted has lost it anyway.
        try:
            return super().delete(key)
        except UNREACHABLE as error:
            _unreachable(error)
            return False


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
