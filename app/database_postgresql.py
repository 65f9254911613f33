"""PostgreSQL's client-side bounds (see ``app.database``): a deadline on each exchange
with the server (``DeadlineConnection``), a breaker per server, and a bounded ping.
Imported only when the engine is psycopg's."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from app.config import DatabaseTimeouts


class _Breaker:
    """Whether one PostgreSQL server answers, as this process last saw it. Once an exchange
    got no answer at all in time (a ping in ``ping`` seconds, a statement in
    ``round_trip``, a connection in ``connect``), it opens: exchanges already waiting give
    up, and new ones are refused at once, but for one at a time that tries (the probe),
    whose answer closes it again. So requests do not each hold a thread for a whole
    deadline while the server is frozen. A slow statement does not open it: the server's
    statement timeout answers first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.opened_at: float | None = None
        self._probing = False

    def admit(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if self._probing:
                return False
            self._probing = True
            return True

    def answered(self) -> None:
        with self._lock:
            self.opened_at, self._probing = None, False

    def unanswered(self) -> None:
        with self._lock:
            if self.opened_at is None:
                self.opened_at = time.monotonic()
            self._probing = False

    def opened_since(self, moment: float) -> bool:
        opened = self.opened_at
        return opened is not None and opened > moment


_breakers: dict[tuple[Any, ...], _Breaker] = {}
_breakers_lock = threading.Lock()


def _breaker_for(cparams: dict[str, Any]) -> _Breaker:
    key = (cparams.get("host"), cparams.get("port"), cparams.get("hostaddr"))
    with _breakers_lock:
        return _breakers.setdefault(key, _Breaker())


class _Abandoned(Exception):
    pass


def _watched(gen: Any, breaker: _Breaker, started: float) -> Any:
    """``gen``, given up on when the breaker opens while it waits for the server (psycopg's
    wait loop sends a "nothing ready" tick every interval)."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            if not ready and breaker.opened_since(started):
                raise _Abandoned
            state = gen.send(ready)
    except StopIteration as stop:
        return stop.value


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection on which no exchange with the server waits longer than
    ``round_trip`` seconds (a ping: ``ping``). On expiry the connection is closed (its state
    is unknown) and ``OperationalError`` raised, which SQLAlchemy takes for a disconnect:
    the connection leaves the pool and the next checkout opens a new one."""

    round_trip: float = DatabaseTimeouts().round_trip
    ping: float = DatabaseTimeouts().ping
    breaker = _Breaker()
    _listening = False
    _finishing = False
    _pinging = False

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None or self._listening:
            # The caller chose its own bound (``notifies`` may wait for good).
            return super().wait(gen, interval, timeout)
        # Ending a transaction is always tried (it is bounded all the same): refusing a
        # rollback would turn a 503 into an error inside the error handler.
        if not self._finishing and not self.breaker.admit():
            raise psycopg.OperationalError("the database is not answering; retry later")
        bound = self.ping if self._pinging else self.round_trip
        started = time.monotonic()
        try:
            result = super().wait(_watched(gen, self.breaker, started), interval, bound)
        except (pg_errors._WaitTimeout, _Abandoned) as exc:
            if isinstance(exc, pg_errors._WaitTimeout):
                self.breaker.unanswered()
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {bound:g} s"
            ) from exc
        except BaseException:
            self.breaker.answered()  # with an error, but it answered
            raise
        self.breaker.answered()
        return result

    def commit(self) -> None:
        self._finishing = True
        try:
            super().commit()
        finally:
            self._finishing = False

    def rollback(self) -> None:
        self._finishing = True
        try:
            super().rollback()
        finally:
            self._finishing = False

    def notifies(self, *, timeout: float | None = None, stop_after: int | None = None) -> Any:
        self._listening = True
        try:
            yield from super().notifies(timeout=timeout, stop_after=stop_after)
        finally:
            self._listening = False


def _pinging(do_ping: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """The pool's pre-ping with the ping's own, short deadline: ``SELECT 1`` takes
    milliseconds on a server that answers at all, whatever else it is running."""

    @functools.wraps(do_ping)
    def ping(dbapi_connection: Any) -> bool:
        if not isinstance(dbapi_connection, DeadlineConnection):
            return do_ping(dbapi_connection)
        dbapi_connection._pinging = True
        try:
            return do_ping(dbapi_connection)
        finally:
            dbapi_connection._pinging = False

    return ping


@functools.cache
def _deadline_class(round_trip: float, ping: float) -> type[DeadlineConnection]:
    bounds = {"round_trip": round_trip, "ping": ping}
    return type("DeadlineConnection", (DeadlineConnection,), bounds)


def _connect_postgresql(
    timeouts: DatabaseTimeouts, _dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]
) -> psycopg.Connection:
    # Added to the URL's own ``options`` (a search_path, say), never in place of them.
    options = " ".join(filter(None, [cparams.get("options"), timeouts.server_options()]))
    cparams["options"] = options
    breaker = _breaker_for(cparams)
    if not breaker.admit():
        raise psycopg.OperationalError("the database is not answering; retry later")
    started = time.monotonic()
    try:
        connection = _deadline_class(timeouts.round_trip, timeouts.ping).connect(*cargs, **cparams)
    except psycopg.OperationalError:
        # Refused at once (a stopped server) says it is down but answering; a connect
        # that used up its timeout says nothing answers.
        if time.monotonic() - started >= timeouts.connect * 0.9:
            breaker.unanswered()
        else:
            breaker.answered()
        raise
    breaker.answered()
    connection.breaker = breaker
    return connection
