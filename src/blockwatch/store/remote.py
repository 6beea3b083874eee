"""Reads of a store another process owns: the owner answers queries, other processes render.

DuckDB lets one process hold a file read-write and no other process open it at all, so a
server that owns its store (`blockwatch serve`) could only read it from its own threads, which
share one interpreter lock: building pages, API answers and reports took turns with the event
loop answering everyone else. Here the owner runs a ``QueryService``: a Unix socket in a
private folder, answering with a cursor of its own connection per client. Worker processes
read through a ``RemoteStore``, which gives ``Reads`` cursors whose queries run in the owner
and whose rows come back pickled, so everything but the query itself (turning rows into
pages, templates, charts, checksums) runs in the worker, on another core.

Only the owner's own workers can connect: the folder is the owner's alone (0700) and every
connection must prove the random key the owner gave its workers. A query must be one SELECT
(a bug in a worker cannot write to the store).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import Any, Final

import duckdb

from blockwatch.store.store import Store

__all__ = [
    "THREAD_NICE",
    "QueryService",
    "RemoteAddress",
    "RemoteCursor",
    "RemoteStore",
    "lower_thread_priority",
]

# Rows of one answer at most: every read of the dashboard is limited far below this.
MAX_ROWS: Final = 1_000_000
RemoteAddress = tuple[str, bytes]  # (socket path, key)
# The lowest priority a thread of the server takes (see lower_thread_priority).
THREAD_NICE: Final = 10


# --- in the owner ----------------------------------------------------------------------------


class QueryService:
    """Answers the SELECTs of this process's workers over ``store`` (see the module doc)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._dir = tempfile.mkdtemp(prefix="blockwatch-reads-")  # 0700: ours alone
        self._key = os.urandom(32)
        self._listener = Listener(os.path.join(self._dir, "s"), family="AF_UNIX")
        self._closed = False
        self._clients: dict[Connection, duckdb.DuckDBPyConnection | None] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="blockwatch-reads", daemon=True).start()

    @property
    def address(self) -> RemoteAddress:
        return (str(self._listener.address), self._key)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.05)  # out of descriptors, say: not a busy loop meanwhile
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _state(self) -> tuple[bool, bool]:
        return (self.store.counts_ready, self.store.days_pay)

    def _serve(self, conn: Connection) -> None:
        cur = None
        try:
            # The key is checked here, not in the accepting thread: a client that never
            # answers the challenge holds up only itself.
            deliver_challenge(conn, self._key)
            answer_challenge(conn, self._key)
            # The worker's CPU priority, taken by the thread serving it: a report worker's
            # reads give way to the pages' here too.
            lower_thread_priority(conn.recv())
            cur = self.store.cursor()
            with self._lock:
                if self._closed:
                    return
                self._clients[conn] = cur
            conn.send(
                {
                    "path": str(self.store.path),
                    "raw_columns": self.store.raw_columns,
                    "verdict_select": self.store.verdict_select,
                    "state": self._state(),
                }
            )
            while True:
                sql, params = conn.recv()
                conn.send((*_answer(cur, sql, params), self._state()))
        except (EOFError, OSError, ValueError, TypeError, AuthenticationError, duckdb.Error):
            pass  # the worker ended or failed the key, or the store closed under us
        finally:
            with self._lock:
                self._clients.pop(conn, None)
            if cur is not None:
                cur.close()
            conn.close()

    def close(self, wait: float = 5.0) -> None:
        """Stop answering: queries running are interrupted, the workers' next read fails
        (their server is going away), and the serving threads are waited for (``wait``
        seconds at most), so the store can be closed after."""
        with self._lock:
            self._closed = True
            clients = list(self._clients.items())
            threads = list(self._threads)
        self._listener.close()
        for conn, cur in clients:
            if cur is not None:
                with contextlib.suppress(duckdb.Error):  # closed meanwhile by its thread
                    cur.interrupt()
            # Shut down, not closed: the thread blocked reading it wakes (end of file) and
            # closes it itself.
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(conn.fileno())) as s:
                s.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        shutil.rmtree(self._dir, ignore_errors=True)


def lower_thread_priority(nice: object) -> None:
    """This thread at the worker's priority (Linux gives each thread its own), never above
    the server's and at most THREAD_NICE: it holds the interpreter lock at times, and a
    thread starved of CPU while holding it would stall the whole server."""
    if not isinstance(nice, int) or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        if nice > os.getpriority(os.PRIO_PROCESS, tid):
            os.setpriority(os.PRIO_PROCESS, tid, min(nice, THREAD_NICE))


def _answer(cur: duckdb.DuckDBPyConnection, sql: object, params: object) -> tuple[Any, ...]:
    """("ok", column names, rows) or ("error", message)."""
    if not isinstance(sql, str):
        return ("error", "a query must be text")
    try:
        statements = cur.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            return ("error", "only one SELECT is answered")
        # In a read-only transaction: a SELECT can still write (a CTE holding a DELETE,
        # nextval(), checkpoint()), and this is the owner's read-write connection.
        cur.execute("BEGIN TRANSACTION READ ONLY")
        try:
            res = cur.execute(sql, params)
            cols = [d[0] for d in res.description or []]
            rows = res.fetchmany(MAX_ROWS + 1)
        finally:
            cur.execute("ROLLBACK")
    except (duckdb.Error, TypeError, ValueError) as exc:
        # A parameter DuckDB cannot bind is the query's error too; the channel stays open.
        return ("error", str(exc))
    if len(rows) > MAX_ROWS:
        return ("error", f"more than {MAX_ROWS:,} rows asked of the owner")
    return ("ok", cols, rows)


# --- in a worker ----------------------------------------------------------------------------


class RemoteCursor:
    """A cursor whose queries the owner runs (one at a time per worker: the channel is
    shared by the worker's threads)."""

    def __init__(self, owner: RemoteStore) -> None:
        self._owner = owner
        self._cols: list[str] = []
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0

    def execute(self, query: str, parameters: object = None) -> RemoteCursor:
        params = list(parameters) if isinstance(parameters, list | tuple) else []
        self._cols, self._rows = self._owner.query(query, params)
        self._at = 0
        return self

    @property
    def description(self) -> list[tuple[Any, ...]]:
        return [(c, None, None, None, None, None, None) for c in self._cols]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.fetchmany(len(self._rows))

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        out = self._rows[self._at : self._at + size]
        self._at += len(out)
        return out

    def close(self) -> None:
        self._rows = []


class RemoteStore:
    """What ``Reads`` needs of a Store, read through the owner's QueryService."""

    read_only: Final = True
    external: Final = False  # the owner's cursors already read through its views

    def __init__(self, address: RemoteAddress) -> None:
        self._address = address
        self._lock = threading.Lock()
        self._conn, hello = self._connect()
        self.path = Path(hello["path"])
        self.raw_columns: str = hello["raw_columns"]
        self.verdict_select: str = hello["verdict_select"]
        self._counts_ready, self._days_pay = hello["state"]

    @property
    def counts_ready(self) -> bool:
        return bool(self._counts_ready)

    @property
    def days_pay(self) -> bool:
        return bool(self._days_pay)

    def cursor(self) -> RemoteCursor:
        return RemoteCursor(self)

    def _connect(self) -> tuple[Connection, dict[str, Any]]:
        path, key = self._address
        try:
            conn = Client(path, family="AF_UNIX", authkey=key)
            conn.send(os.nice(0))  # this process's priority, for the thread serving it
            return conn, conn.recv()
        except (OSError, EOFError, AuthenticationError) as exc:
            raise duckdb.ConnectionException(f"cannot reach the store's owner: {exc}") from exc

    def query(self, sql: str, params: list[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock:
            try:
                self._conn.send((sql, params))
                answer = self._conn.recv()
            except (OSError, EOFError):
                # Once more on a new channel: the owner may have dropped this one (a query it
                # could not read); if it is gone, this fails too.
                self._conn.close()
                self._conn, _ = self._connect()
                try:
                    self._conn.send((sql, params))
                    answer = self._conn.recv()
                except (OSError, EOFError) as exc:
                    raise duckdb.ConnectionException(f"the store's owner is gone: {exc}") from exc
        self._counts_ready, self._days_pay = answer[-1]
        if answer[0] == "error":
            raise duckdb.Error(answer[1])
        return answer[1], answer[2]

    def close(self) -> None:
        self._conn.close()
