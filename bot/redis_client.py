"""Redis connection: a real server from REDIS_URL, or an in-process fakeredis stand-in.

The stand-in lets `lianxin demo` and the tests run with nothing installed. All stand-in clients
of one process share one fake server, so two app instances in one test behave like two workers
sharing a real Redis.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    import fakeredis

__all__ = ["RedisUnavailable", "make_redis"]

RedisUnavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

_fake_servers: dict[str, fakeredis.FakeServer] = {}
_lock = threading.Lock()


def make_redis(url: str, fake_name: str = "default") -> redis.Redis:
    if url:
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                    health_check_interval=30)
    import fakeredis

    with _lock:
        server = _fake_servers.get(fake_name)
        if server is None:
            server = fakeredis.FakeServer()
            _fake_servers[fake_name] = server
    return fakeredis.FakeRedis(server=server)
