"""One roaster as the dashboard sees it: a sink that keeps the current roast in memory.

It holds what a page needs to draw the roast so far on load: the latest `state`,
settings and telemetry, the probability curve of the current roast (bounded to
`MAX_POINTS`), and the roast's markers (CHARGE, first-crack onset and confirmation,
first-crack end, second crack, DROP). Every announcement is also pushed to the dashboard's clients
(agent/dashboard/hub.py). Called on the scoring thread only; it never blocks.

Times on the curve and of the markers are roast seconds (`roast_s`); a window before
any roast started has no place on the curve. A new roast (the roast clock going back:
`roast/set start`, a controller's CHARGE, or a reset) clears the curve and the markers.
(Not `roast_started_ts`: it is a wall time, re-derived on every window, so it jitters.)
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import Any

from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry, to_json
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.dashboard.hub import Hub

MAX_POINTS = 3600
"""Curve points kept per roaster: three hours at the agent's 3 s hop."""
NEW_ROAST_S = 30.0
"""Seconds the roast clock must go back to mean a new roast: more than the cadence's
lookback, whose late-scored windows are older than the newest one."""


class RoasterView:
    """A `Sink` for one roaster (agent_id), feeding the dashboard."""

    def __init__(self, agent_id: str, hub: Hub,
                 connections: Callable[[], dict[str, Any]] | None = None) -> None:
        self.agent_id = agent_id
        self._hub = hub
        self._connections = connections or (lambda: {})
        self._lock = threading.Lock()
        self._points: list[tuple[float, float]] = []  # by roast time; late windows fit in
        self._markers: list[dict[str, Any]] = []
        self._state: dict[str, Any] = {}
        self._settings: dict[str, Any] = {}
        self._telemetry: dict[str, Any] = {}
        self._roast_s = -1.0  # the roast clock last seen; it only goes back for a new roast

    # --- the Sink protocol (scoring thread) ---------------------------------------------
    def start(self) -> None:
        pass

    def close(self, timeout: float = 5.0) -> None:
        pass

    def telemetry(self, t: Telemetry) -> None:
        payload = t.to_payload()
        with self._lock:
            self._telemetry = payload
            if t.roast_s is not None:
                self._follow_roast_clock(t.roast_s)
                bisect.insort(self._points, (round(t.roast_s, 1), round(t.probability, 4)))
                del self._points[:-MAX_POINTS]
        self._push("telemetry", payload)

    def event(self, e: FirstCrackEvent) -> None:
        payload = e.to_payload()
        with self._lock:
            kind = payload.get("event_type")
            if kind == "first_crack":
                self._mark("onset", payload.get("onset_roast_s"), payload["event_id"])
                self._mark("first_crack", payload.get("roast_s"), payload["event_id"])
            elif kind == "second_crack":
                self._mark("second_crack", payload.get("onset_roast_s"), payload["event_id"])
            elif kind == "first_crack_end":
                self._mark("first_crack_end", payload.get("end_roast_s"), payload["event_id"])
            elif kind == "false_alarm":
                withdrawn = payload.get("retracts")
                self._markers = [m for m in self._markers if m.get("event_id") != withdrawn]
        self._push("event", payload)

    def state(self, s: RoastState) -> None:
        payload = s.to_payload()
        with self._lock:
            roast_s = payload.get("roast_s")
            if isinstance(roast_s, int | float):
                self._follow_roast_clock(roast_s)
            running = self._state.get("phase") in ("armed", "first_crack", "second_crack")
            if running and payload.get("phase") == "idle" and roast_s is not None:
                self._mark("drop", roast_s)
            self._state = payload
        self._push("state", payload)

    def publish_settings(self, s: RuntimeSettings) -> None:
        values = s.runtime_values()
        with self._lock:
            self._settings = values
        self._push("settings", values)

    # --- reads (any thread) ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything a page needs to draw this roaster now."""
        with self._lock:
            return {
                "id": self.agent_id,
                "state": dict(self._state),
                "settings": dict(self._settings),
                "telemetry": dict(self._telemetry),
                "points": [list(p) for p in self._points],
                "markers": [dict(m) for m in self._markers],
                "connections": self._connections(),
            }

    # --- inside -----------------------------------------------------------------------------
    def _follow_roast_clock(self, roast_s: float) -> None:
        """A roast clock that went back further than any late-scored window can (the
        cadence's lookback) means a new roast: a clean chart from CHARGE."""
        if self._roast_s < 0 or roast_s + NEW_ROAST_S < self._roast_s:
            self._points.clear()
            self._markers = []
            self._mark("charge", 0.0)
            self._roast_s = roast_s
        self._roast_s = max(self._roast_s, roast_s)
    def _mark(self, kind: str, roast_s: Any, event_id: str | None = None) -> None:
        if not isinstance(roast_s, int | float):
            return
        self._markers = [m for m in self._markers if m["kind"] != kind]
        marker: dict[str, Any] = {"kind": kind, "roast_s": round(float(roast_s), 1)}
        if event_id is not None:
            marker["event_id"] = event_id
        self._markers.append(marker)

    def _push(self, kind: str, payload: dict[str, Any]) -> None:
        self._hub.publish(sse("message", {"roaster": self.agent_id, "kind": kind,
                                          "payload": payload,
                                          "connections": self._connections()}))


def sse(kind: str, body: dict[str, Any]) -> bytes:
    """One server-sent event: `kind` and a compact JSON body."""
    return f"event: {kind}\ndata: {to_json(body)}\n\n".encode()
