"""Django's Redis cache, made optional: when Redis is down the cache behaves as empty.

Everything Floorbook caches (the synonym list, a person's last search) can be rebuilt
from the database, so a cache that cannot be reached is a miss, not an error page. After
a failure Redis is left alone for ``RETRY_SECONDS`` (every call is a miss meanwhile, with
no waiting on connection attempts), and a warning is logged at most once a minute.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0


class ResilientRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and writes do nothing while Redis is unreachable."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._down_until = 0.0
        self._warned_at = float("-inf")

    def _call(self, method: str, fallback, *args, **kwargs):
        if time.monotonic() < self._down_until:
            return fallback
        try:
            return getattr(super(), method)(*args, **kwargs)
        except UNREACHABLE as error:
            now = time.monotonic()
            self._down_until = now + RETRY_SECONDS
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = now
                logger.warning(
                    "Cache at %s unreachable (%s); running without it.", self._servers, error
                )
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", False, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._call("set", None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        found = self._call("incr", None, key, delta, version)
        if found is None:
            raise ValueError(f"Key '{key}' not found (cache unreachable).")
        return found

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", None, keys, version)

    def clear(self):
        return self._call("clear", False)
