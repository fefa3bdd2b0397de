"""The durable outbox: FIFO, bounded, survives reopen, deletes only on ack.

Rule protected: events and state changes are never lost while the broker is
away, and when space runs out the least valuable rows go first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firstcrack.agent.mqtt.outbox import Outbox


def _topics(box: Outbox) -> list[str]:
    return [e.topic for e in box.peek()]


def test_fifo_order_and_fields(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 100, clock=lambda: 123.5)
    for n in range(5):
        box.put(f"t/{n}", f"p{n}".encode(), 1, n % 2 == 0, "state")
    entries = box.peek()
    assert [e.topic for e in entries] == [f"t/{n}" for n in range(5)]
    assert entries[0].payload == b"p0" and entries[0].retain and entries[0].qos == 1
    assert not entries[1].retain
    assert entries[0].created == 123.5
    assert box.first() == entries[0]


def test_ack_removes_only_that_row(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 100)
    ids = [box.put(f"t/{n}", b"x", 1, False, "event") for n in range(3)]
    box.ack(ids[1])
    assert _topics(box) == ["t/0", "t/2"]
    box.ack(ids[0])
    box.ack(ids[2])
    assert len(box) == 0 and box.first() is None


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "outbox.sqlite3"
    box = Outbox(path, 100)
    box.put("a", b'{"event_id":"e1"}', 1, False, "event")
    box.put("b", b"s", 1, True, "state")
    box.close()
    again = Outbox(path, 100)
    assert _topics(again) == ["a", "b"]
    assert again.first().payload == b'{"event_id":"e1"}'  # type: ignore[union-attr]
    again.put("c", b"s", 1, True, "state")
    assert _topics(again) == ["a", "b", "c"]


def test_bound_drops_oldest_non_event_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", 4)
    box.put("event/1", b"", 1, False, "event")
    box.put("state/1", b"", 1, True, "state")
    box.put("event/2", b"", 1, False, "event")
    box.put("state/2", b"", 1, True, "state")
    box.put("state/3", b"", 1, True, "state")  # full: state/1 goes
    assert _topics(box) == ["event/1", "event/2", "state/2", "state/3"]
    box.put("event/3", b"", 1, False, "event")  # full: state/2 goes
    box.put("event/4", b"", 1, False, "event")  # full: state/3 goes
    assert _topics(box) == ["event/1", "event/2", "event/3", "event/4"]
    box.put("event/5", b"", 1, False, "event")  # only events left: the oldest goes
    assert _topics(box) == ["event/2", "event/3", "event/4", "event/5"]
    assert box.dropped == 4


def test_bound_holds_after_reopen_with_a_smaller_limit(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    big = Outbox(path, 10)
    for n in range(6):
        big.put(f"state/{n}", b"", 1, True, "state")
    big.close()
    small = Outbox(path, 3)
    small.put("event/1", b"", 1, False, "event")
    assert _topics(small) == ["state/4", "state/5", "event/1"]


def test_rejects_a_useless_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        Outbox(tmp_path / "o.sqlite3", 0)
