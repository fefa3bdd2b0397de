"""Where results go. A sink receives telemetry, events and state snapshots.

`MqttSink` (agent/mqtt) is the product's sink; `JsonLinesSink` prints the
same payloads as JSON lines for `run` without a broker and for scripting.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Protocol, TextIO

from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry, to_json
from firstcrack.agent.core.settings import RuntimeSettings


class Sink(Protocol):
    def start(self) -> None: ...
    def telemetry(self, t: Telemetry) -> None: ...
    def event(self, e: FirstCrackEvent) -> None: ...
    def state(self, s: RoastState) -> None: ...
    def publish_settings(self, s: RuntimeSettings) -> None: ...
    def close(self, timeout: float = 5.0) -> None: ...


_STDOUT_LOCK = threading.Lock()  # several roasters' sinks share stdout


class JsonLinesSink:
    """One JSON object per line: `{"type": "telemetry"|"event"|"state"|"settings", ...}`."""

    def __init__(
        self,
        stream: TextIO | None = None,
        telemetry: bool = True,
        tag: dict[str, Any] | None = None,
    ) -> None:
        """`tag` is merged into every line, e.g. `{"agent_id": ...}` with several roasters."""
        self._stream = stream or sys.stdout
        self._telemetry = telemetry
        self._tag = dict(tag or {})
        self._lock = _STDOUT_LOCK if stream is None else threading.Lock()

    def _write(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(to_json({"type": kind, **self._tag, **payload}) + "\n")
            self._stream.flush()

    def start(self) -> None:
        return None

    def telemetry(self, t: Telemetry) -> None:
        if self._telemetry:
            self._write("telemetry", t.to_payload())

    def event(self, e: FirstCrackEvent) -> None:
        self._write("event", e.to_payload())

    def state(self, s: RoastState) -> None:
        self._write("state", s.to_payload())

    def publish_settings(self, s: RuntimeSettings) -> None:
        self._write("settings", s.runtime_values())

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stream.flush()


class ListSink:
    """Collects everything in memory (offline analysis, tests)."""

    def __init__(self) -> None:
        self.telemetries: list[Telemetry] = []
        self.events: list[FirstCrackEvent] = []
        self.states: list[RoastState] = []

    def start(self) -> None:
        return None

    def telemetry(self, t: Telemetry) -> None:
        self.telemetries.append(t)

    def event(self, e: FirstCrackEvent) -> None:
        self.events.append(e)

    def state(self, s: RoastState) -> None:
        self.states.append(s)

    def publish_settings(self, s: RuntimeSettings) -> None:
        return None

    def close(self, timeout: float = 5.0) -> None:
        return None
