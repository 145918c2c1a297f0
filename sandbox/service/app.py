"""The context every use case runs in: settings, database, clock, providers, vault."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from sandbox.clock import Clock, SystemClock
from sandbox.config import Settings
from sandbox.db import check_schema, make_engine, session_scope, _is_connection_error, _unreachable
from sandbox.errors import ConfigError, DatabaseUnavailableError
from sandbox.provider import Provider, cloud_named
from sandbox.secrets import Vault, load_key

log = logging.getLogger("sandbox")


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    vault: Vault = field(init=False)  # from the settings' key file
    # host:pid, the host cut so that with a lease token it fits Sandbox.lease_owner (80).
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()[:48]}:{os.getpid()}")
    _providers: dict[str, Provider] = field(default_factory=dict)

    def __post_init__(self):
        self.vault = Vault(load_key(self.settings))

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = cloud_named(name).build(self.settings.cloud(name))
        return self._providers[name]

    def use_provider(self, name: str, provider: Provider) -> None:
        """Install a ready-made provider (a benchmark with injected latency, say)."""
        self._providers[name] = provider

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction. A lost database connection becomes a one-line domain error."""
        try:
            # On PostgreSQL, lock waits are bounded per connection (sandbox.db.LOCK_TIMEOUT).
            with session_scope(self.engine) as session:
                yield session
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_connection_error(exc):
                raise DatabaseUnavailableError(_unreachable(self.engine, exc)) from None
            raise

    def scalar(self, statement: Any) -> Any:
        """The first column of the first row of a read-only statement (see `read`)."""
        return self.read(statement, lambda result: result.scalar())

    def read(self, statement: Any, fetch: Callable[[Any], Any] = lambda result: result.all()) -> Any:
        """One read-only statement outside any transaction: on PostgreSQL an autocommit
        connection with no BEGIN, COMMIT or ping round trip (bench/server_bench.py: /me's
        quota count went from about 0.75 to 0.2 ms). A dropped connection is retried once,
        which the ping would otherwise have caught."""
        if not self.is_postgres:
            with self.session() as session:
                return fetch(session.execute(statement))
        for attempt in (1, 2):
            try:
                with self._reads.connect() as connection:
                    return fetch(connection.execute(statement))
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    continue
                if exc.connection_invalidated or _is_connection_error(exc):
                    raise DatabaseUnavailableError(_unreachable(self.engine, exc)) from None
                raise

    @cached_property
    def _reads(self) -> Engine:
        size = getattr(self.engine.pool, "size", lambda: 5)()  # as many as the main pool keeps
        return make_engine(self.engine.url.render_as_string(hide_password=False),
                           isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_size=size, max_overflow=size)

    def close(self) -> None:
        self.engine.dispose()
        if "_reads" in self.__dict__:
            self._reads.dispose()

    def now(self):
        return self.clock.now()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"


def build_app(settings: Settings, *, clock: Clock | None = None, check: bool = True,
              engine: Engine | None = None, **kwargs: Any) -> App:
    engine = engine or make_engine(settings.database_url())
    if check:
        check_schema(engine)
    return App(settings=settings, engine=engine, clock=clock or SystemClock(), **kwargs)
