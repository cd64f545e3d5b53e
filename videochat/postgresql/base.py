"""Django's PostgreSQL backend with its psycopg connection pool (`OPTIONS["pool"]`), differing
in how the pool checks connections, in what a client gets when none is free, and at forks:

- A connection taken from the pool is checked first (an empty query, one round trip) unless
  it was taken less than CHECK_INTERVAL_SECONDS ago: a busy process reuses its connections
  within milliseconds, and the gateway takes one per socket call, where checking every time
  added half of what the chat path's one query costs the thread (measured). A connection
  that died while idle in that last second fails the one call that gets it, and the pool
  discards it when it comes back.
- A connection that fails its check makes the pool check all its idle ones at once
  (`ConnectionPool.check()`, as psycopg's author advises): after a PostgreSQL restart or
  `pg_terminate_backend` they are all dead, and the pool alone would try them one by one,
  backing off 1, 2, 4... s between attempts. Measured with Django's own pool: the first
  request after 8 idle connections were dropped waited the whole 10 s timeout and failed,
  the next one waited 3 s.
- A failed attempt to open a connection is retried for RECONNECT_SECONDS only, not the
  pool's default 5 minutes with a back-off doubling from 1 s: while PostgreSQL is down the
  pool's retries would otherwise be tens of seconds apart, and the first request after it
  came back would wait for the next one. Given up, the next request that needs a connection
  starts a new attempt at once.
- No connection free within the pool's timeout is `DatabaseUnavailable`: 503
  `service_unavailable` on both doors, not a `server_error`.
- A process about to fork (multiprocessing, Celery's prefork pool) closes its pools first:
  a child would otherwise take the parent's idle connections, whose sockets it shares with
  the parent and with its siblings (measured: two children and the parent, one backend).

Everything else (the pool's options, opening it on first use, `close_pool()` for the test
database) is Django's."""

import logging
import os
from collections.abc import Callable
from math import inf
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

from videochat.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
RECONNECT_SECONDS = 2.0


class DatabaseWrapper(base.DatabaseWrapper):
    # Django's, missing from django-stubs (the pool ignores what `configure` returns).
    _connection_pools: "dict[str, ConnectionPool[Connection[Any]]]"
    _configure_connection: "Callable[[Connection[Any]], None]"

    @property
    def pool(self) -> "ConnectionPool[Connection[Any]] | None":
        if (pool := self._connection_pools.get(self.alias)) is not None:
            return pool  # (read several times per connection taken)
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        # Threads racing here each build one (it is not open yet); the first one stays.
        return self._connection_pools.setdefault(self.alias, self._pool_create(options))

    def _pool_create(self, options: dict[str, Any]) -> "ConnectionPool[Connection[Any]]":
        if self.settings_dict["CONN_MAX_AGE"] != 0:
            raise ImproperlyConfigured("A connection pool needs CONN_MAX_AGE = 0.")
        taken_at: WeakKeyDictionary[Connection[Any], float] = WeakKeyDictionary()

        def check(connection: Connection[Any]) -> None:
            now = monotonic()
            recent = now - taken_at.get(connection, -inf) < CHECK_INTERVAL_SECONDS
            if not recent:
                try:
                    ConnectionPool.check_connection(connection)
                except Exception:
                    pool.check()  # its idle companions most likely died with it
                    raise
            taken_at[connection] = now

        pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            kwargs={**self.get_connection_params(), "autocommit": True},
            open=False,  # opened by the first connection, as Django does
            configure=self._configure_connection,
            check=check if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
            reconnect_timeout=RECONNECT_SECONDS,
            **options,
        )
        return pool

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection[Any]:
        try:
            connection: Connection[Any] = super().get_new_connection(conn_params)
        except PoolTimeout as exc:
            assert self.pool is not None
            logger.warning(
                "No PostgreSQL connection free within %s s (pool of %s): %s",
                self.pool.timeout,
                self.pool.max_size,
                self.pool.get_stats(),
            )
            raise DatabaseUnavailable("The service is busy. Try again shortly.") from exc
        return connection


def _pools_close() -> None:
    while DatabaseWrapper._connection_pools:
        _, pool = DatabaseWrapper._connection_pools.popitem()
        pool.close()  # the next query opens a new one


os.register_at_fork(before=_pools_close)
