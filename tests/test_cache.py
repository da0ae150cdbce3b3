"""The cache: Redis at REDIS_URL when set (shared by app servers), local memory otherwise,
and a Redis that is down is a cache miss, never an error."""

from __future__ import annotations

import logging
import secrets
import socket

import pytest
from django.core.cache import cache

from config.settings import cache_settings
from kb import actions
from kb import cache as kb_cache
from kb.models import SearchEvent


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url_answering() -> str | None:
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.exceptions.RedisError:
        return None
    return url


def test_local_memory_without_redis_url():
    assert cache_settings("")["default"]["BACKEND"].endswith("LocMemCache")


def test_redis_url_selects_the_resilient_redis_cache():
    config = cache_settings("redis://cache.example:6379/1")["default"]
    assert config["BACKEND"] == "kb.cache.ResilientRedisCache"
    assert config["LOCATION"] == "redis://cache.example:6379/1"
    assert config["KEY_PREFIX"]
    assert config["OPTIONS"]["socket_connect_timeout"] <= 1


@pytest.fixture
def dead_redis(settings):
    settings.CACHES = cache_settings(f"redis://127.0.0.1:{closed_port()}/0")
    yield
    # the autouse empty_cache fixture clears the default cache after this one


def test_a_redis_that_is_down_is_a_miss(dead_redis, caplog, monkeypatch):
    monkeypatch.setattr(kb_cache, "RETRY_SECONDS", 0)  # try Redis on every call
    with caplog.at_level(logging.WARNING, logger="kb.cache"):
        cache.set("key", "value")
        assert cache.get("key") is None
        assert cache.get("key", "default") == "default"
        assert cache.add("key", "value") is False
        assert cache.get_many(["key"]) == {}
        assert cache.set_many({"a": 1}) == ["a"]
        cache.delete("key")
        cache.delete_many(["key"])
        assert not cache.has_key("key")
        assert cache.get_or_set("key", 3) == 3
        with pytest.raises(ValueError):
            cache.incr("key")
        cache.clear()
    warnings = [r for r in caplog.records if r.name == "kb.cache"]
    assert len(warnings) == 1  # at most one warning a minute
    assert "unreachable" in warnings[0].getMessage()


def test_pages_search_and_search_log_work_with_redis_down(dead_redis, rep_client, rep, entry):
    response = rep_client.get("/search/", {"q": "broadband"})
    assert response.status_code == 200
    assert f"/entries/{entry.pk}/" in response.content.decode()
    response = rep_client.get("/api/v1/search", {"q": "broadband dropping"})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [entry.pk]
    actions.log_search(user=rep, text="router", result_count=0)
    assert SearchEvent.objects.filter(user=rep).count() == 3


def test_redis_when_it_answers(settings):
    url = redis_url_answering()
    if url is None:
        pytest.skip("no Redis answering at 127.0.0.1:6379")
    settings.CACHES = cache_settings(url)
    settings.CACHES["default"]["KEY_PREFIX"] = f"floorbook-test-{secrets.token_hex(4)}"
    cache.set("kb:test", {"a": [1, 2]}, 30)
    assert cache.get("kb:test") == {"a": [1, 2]}
    cache.delete("kb:test")
    assert cache.get("kb:test") is None
