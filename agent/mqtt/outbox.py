"""Durable on-disk FIFO for messages that must not be lost (README, "MQTT").

Events and state changes are written here first and deleted only once the
broker has acknowledged them (PUBACK), so a broker outage or an agent restart
loses nothing. Payloads are stored already serialised: a re-send carries the
original timestamps and `event_id`.

SQLite in WAL mode: one row per message, an autoincrement id gives the order.
The outbox is bounded; when full, the oldest non-event row goes first (a
later state snapshot supersedes an earlier one), and only then the oldest
event, each drop logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("firstcrack.mqtt")

OUTBOX_FILE = "outbox.sqlite3"
KIND_EVENT = "event"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class OutboxEntry:
    """One stored message.

    id: FIFO position (increasing). created: wall-clock enqueue time, epoch seconds.
    kind: `event`, `state`, ... (events are dropped last when the outbox is full).
    """

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str
    created: float


class Outbox:
    """A bounded, thread-safe, durable FIFO of outgoing MQTT messages."""

    def __init__(
        self, path: Path, max_entries: int, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"outbox max_entries must be >= 1, got {max_entries}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._dropped = 0
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged put() must survive power loss, not only a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    @property
    def dropped(self) -> int:
        """Rows discarded because the outbox was full (this process only)."""
        return self._dropped

    def put(self, topic: str, payload: bytes, qos: int, retain: bool, kind: str) -> int:
        """Append a message; returns its id. Makes room first when the outbox is full."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                while count >= self.max_entries:
                    self._drop_one()
                    count -= 1
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, kind, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (topic, bytes(payload), int(qos), int(bool(retain)), kind, self._clock()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0)

    def _drop_one(self) -> None:
        row = self._db.execute(
            "SELECT id, topic, kind FROM outbox WHERE kind != ? ORDER BY id LIMIT 1", (KIND_EVENT,)
        ).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT id, topic, kind FROM outbox ORDER BY id LIMIT 1"
            ).fetchone()
        self._db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
        self._dropped += 1
        log.warning(
            "outbox full (%d rows): dropped oldest %s message for %s",
            self.max_entries,
            row[2],
            row[1],
        )

    def first(self) -> OutboxEntry | None:
        """The oldest message, or None when empty."""
        entries = self.peek(1)
        return entries[0] if entries else None

    def peek(self, limit: int | None = None) -> list[OutboxEntry]:
        """Up to `limit` messages, oldest first (all when None)."""
        sql = "SELECT id, topic, payload, qos, retain, kind, created FROM outbox ORDER BY id"
        args: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            args = (limit,)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            OutboxEntry(r[0], r[1], bytes(r[2]), int(r[3]), bool(r[4]), r[5], float(r[6]))
            for r in rows
        ]

    def ack(self, entry_id: int) -> None:
        """Delete a message the broker has acknowledged."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                (n,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            else:
                (n,) = self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE kind = ?", (kind,)
                ).fetchone()
        return int(n)

    def __len__(self) -> int:
        return self.count()

    def close(self) -> None:
        with self._lock:
            self._db.close()
