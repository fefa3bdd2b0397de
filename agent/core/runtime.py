"""The agent's core: scores windows, runs the detector, and feeds the sinks.

`Runtime` is shared by the live agent and by offline `analyze`, so offline
evaluation measures the code that runs live.

One owner: the thread that scores windows is the only one that changes the
roast state or talks to the sinks. Commands from any transport (MQTT `/set`,
`roast/set`, a controller's CHARGE/DROP, Artisan, persisted settings) are
submitted to `runtime.commands` (agent/core/commands.py) and applied by that
thread before the next window, or when the worker wakes with no window. So
every state snapshot reaches the sinks in the order it was taken. Other
threads may only read (`current_settings`, `snapshot`) under the lock.
Settings are a frozen dataclass swapped whole, so a window always sees one
consistent set.

Wall-clock timestamps: every window anchors stream time to `clock()`. An
instant in stream time maps to wall time through the latest anchor, so when
a file replays at 20x, back-dated times (onset, roast start) are back-dated by
real roast seconds, as they would be live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from agent.core.commands import CORRECTIONS, Command, CommandQueue, RoastCommand, apply_command
from agent.core.corrections import Corrections
from agent.core.crack_end import CrackEndTracker, FirstCrackEndEvent
from agent.core.detector import Decision, Detector, Phase
from agent.core.events import (
    crack_end_info,
    development_ratio,
    first_crack_end_event,
    first_crack_event,
    roast_state,
    telemetry,
)
from agent.core.messages import FirstCrackEvent, RoastState, Telemetry
from agent.core.roast_view import RoastView
from agent.core.scoring import dbfs
from agent.core.settings import DetectorSettings
from agent.core.sinks import Sink

log = logging.getLogger("firstcrack.runtime")

STATE_REFRESH_S = 10.0  # stream s; state re-published this often in first crack (development_s)


class Scorer(Protocol):
    name: str

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray: ...


class SettingsPersistence(Protocol):
    def save(self, values: dict[str, Any]) -> None: ...


class Runtime:
    """Windows in, telemetry/events/state out; commands applied by the scoring thread."""

    def __init__(
        self,
        scorer: Scorer,
        settings: DetectorSettings,
        sinks: Sequence[Sink] = (),
        window_s: float = 10.0,
        auto_arm: bool = True,
        persistence: SettingsPersistence | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scorer = scorer
        self.sinks = list(sinks)
        self._settings = settings
        self._detector = Detector(window_s=window_s, auto_arm=auto_arm)
        self._persistence = persistence
        self._clock = clock
        self._lock = threading.RLock()  # guards reads from other threads, not ordering
        self.commands = CommandQueue()
        self._anchor = (0.0, clock())  # (stream seconds, wall seconds)
        self._stream_s = 0.0
        self._last_state_s = 0.0
        self.dropped_windows = 0
        self.state_extras: dict[str, Callable[[], Any]] = {}
        # Health counters (e.g. the source's overruns): in every state, and a change
        # re-publishes the state at most every STATE_REFRESH_S stream seconds.
        self.health_extras: dict[str, Callable[[], Any]] = {}
        self._last_health: dict[str, Any] = {}
        self.telemetry_extras: dict[str, Callable[[], Any]] = {}
        self.event: FirstCrackEvent | None = None
        self.corrections = Corrections()  # the user's marks for this roast
        # Opt-in first-crack END detection (agent/core/crack_end.py); the Agent turns it on.
        self.crack_end: CrackEndTracker | None = None
        ratio = lambda: development_ratio(self._detector, self._stream_s)  # noqa: E731
        ended = lambda: crack_end_info(self.crack_end, self._detector, self._wall)  # noqa: E731
        self.telemetry_extras["development_ratio"] = ratio
        self.state_extras["development_ratio"] = ratio
        self.state_extras["first_crack_end_ts"] = lambda: ended()[0]
        self.state_extras["first_crack_end_roast_s"] = lambda: ended()[1]
        self.state_extras.update(self.corrections.state_fields(self._wall))

    # -- time ------------------------------------------------------------
    def _wall(self, stream_s: float) -> float:
        anchor_s, anchor_wall = self._anchor
        return anchor_wall + (stream_s - anchor_s)

    def advance(self, stream_s: float) -> None:
        """Tell the runtime how far the stream has got (commands act at this time)."""
        with self._lock:
            self._stream_s = max(self._stream_s, stream_s)

    # -- windows ---------------------------------------------------------
    def process(self, end_s: float, samples: np.ndarray, dropped: int = 0) -> Telemetry:
        """Score the window ending at stream time `end_s` and publish the results."""
        level, silent = self.gate(samples)
        started = time.perf_counter()
        probability = 0.0 if silent else float(self.scorer.predict(samples[None, :])[0])
        inference_ms = (time.perf_counter() - started) * 1000.0
        return self.process_scored(end_s, probability, level, inference_ms, silent, dropped)

    def gate(self, samples: np.ndarray) -> tuple[float, bool]:
        """(level in dBFS, silent): silent windows skip the classifier and score 0."""
        level = dbfs(samples)
        return level, level < self.current_settings().silence_dbfs

    def process_scored(
        self,
        end_s: float,
        probability: float,
        level: float,
        inference_ms: float,
        silent: bool,
        dropped: int = 0,
        known_s: float | None = None,
    ) -> Telemetry:
        """Run the detector on an already-scored window (batching callers use this).

        `known_s` (stream seconds, default `end_s`) is when the window's score
        became available: later than its end for a window the cadence re-scored
        from its lookback. Wall time is anchored there, and an event it confirms
        is dated there.
        """
        self.apply_pending()
        now_s = end_s if known_s is None else max(end_s, known_s)
        with self._lock:
            self._anchor = (now_s, self._clock())
            self._stream_s = max(self._stream_s, now_s)
            self.dropped_windows += dropped
            settings = self._settings
            phase_before = self._detector.phase
            decision = self._detector.update(end_s, probability, silent, settings, now_s=now_s)
            telemetry = self._telemetry(end_s, decision, level, inference_ms, settings)
            event = self._event(decision) if decision.confirmation else None
            end_event = self._crack_end_locked(end_s, decision, settings, telemetry)
            publish_state = (
                event is not None
                or end_event is not None
                or self._detector.phase is not phase_before
            )
            developing = self._detector.phase is Phase.FIRST_CRACK
            due = end_s - self._last_state_s >= STATE_REFRESH_S
            if due and (developing or self._health_locked() != self._last_health):
                publish_state = True
            snapshot = self._snapshot_locked() if publish_state else None
            if snapshot is not None:
                self._last_state_s = end_s
        for sink in self.sinks:
            sink.telemetry(telemetry)
            if event is not None:
                sink.event(event)
            if end_event is not None:
                sink.event(end_event)
            if snapshot is not None:
                sink.state(snapshot)
        return telemetry

    def _telemetry(
        self,
        end_s: float,
        decision: Decision,
        level: float,
        inference_ms: float,
        settings: DetectorSettings,
    ) -> Telemetry:
        extra = {key: fn() for key, fn in self.telemetry_extras.items()}
        return telemetry(self._detector, end_s, self._wall, decision, settings, extra,
                         level=level, inference_ms=inference_ms,
                         dropped_windows=self.dropped_windows)

    def _event(self, decision: Decision) -> FirstCrackEvent:
        confirmation = decision.confirmation
        assert confirmation is not None
        self.event = first_crack_event(confirmation, self._detector, self._wall, self.scorer.name)
        log.info(
            "first crack confirmed at roast %.1f s (onset %.1f s, p=%.2f)",
            self.event.roast_s or 0.0,
            self.event.onset_roast_s or 0.0,
            confirmation.probability,
        )
        return self.event

    # -- first-crack end and development ratio ---------------------------
    def _crack_end_locked(
        self, end_s: float, decision: Decision, settings: DetectorSettings, telemetry: Telemetry
    ) -> FirstCrackEndEvent | None:
        """Feed the end tracker; the `first_crack_end` event on the window that decides it."""
        tracker, det = self.crack_end, self._detector
        if tracker is None:
            return None
        pops = telemetry.extra.get("pops_per_min")
        ended = tracker.update(
            end_s,
            decision.probability,
            settings.threshold,
            det.confirmation,
            watching=det.phase is Phase.FIRST_CRACK,
            pops_per_min=float(pops) if isinstance(pops, int | float) else None,
        )
        if ended is None or det.confirmation is None:
            return None
        log.info("first crack ended at stream %.1f s", ended.end_s)
        return first_crack_end_event(
            ended,
            det.confirmation,
            det,
            self._wall,
            decision.probability,
            decision.positive_windows,
            self.scorer.name,
        )

    def first_crack_settled(self) -> bool:
        """First crack is confirmed and, when its end is tracked, has ended too.

        The adaptive cadence keeps listening densely until then, so the
        first-crack end (Artisan's FCe) is timed as finely as the onset.
        """
        with self._lock:
            confirmation = self._detector.confirmation
            if confirmation is None:
                return False
            return self.crack_end is None or self.crack_end.result(confirmation) is not None

    # -- state and commands (the MQTT CommandHandler) --------------------
    def current_settings(self) -> DetectorSettings:
        with self._lock:
            return self._settings

    settings = current_settings  # the MQTT CommandHandler's name for it

    def snapshot(self) -> RoastState:
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> RoastState:
        extra = (
            {"dropped_windows": self.dropped_windows}
            | {key: fn() for key, fn in self.state_extras.items()}
            | self._health_locked(remember=True)
        )
        return roast_state(self._detector, self._stream_s, self._wall, self._settings, extra)

    def roast_view(self) -> RoastView:
        """The current roast for sinks that need more than the messages (the recorder)."""
        with self._lock:
            det = self._detector  # the marks follow the roast in _apply, where roasts change
            return RoastView(self._stream_s, det.roast_start_s, det.roast_end_s,
                             tuple(self.corrections.marks), self._settings, self._anchor)

    def _health_locked(self, remember: bool = False) -> dict[str, Any]:
        health = {key: fn() for key, fn in self.health_extras.items()}
        if remember:
            self._last_health = health
        return health

    def submit(self, command: Command) -> None:
        """The front door for commands, from any thread; applied by the scoring thread."""
        self.commands.submit(command)

    def apply_pending(self) -> int:
        """Apply every submitted command in order and announce each result; returns how many.

        Only the scoring thread calls this (and, before it starts and after it
        ends, the thread that runs the agent). A command that cannot apply is
        logged and skipped; it never stops the stream.
        """
        commands = self.commands.drain()
        for command in commands:
            try:
                self._apply(command)
            except (TypeError, ValueError) as exc:
                log.warning("ignored %s command %r: %s", command.origin, command, exc)
        return len(commands)

    def _apply(self, command: Command) -> None:
        event = None
        with self._lock:
            before = self._settings
            self._settings = apply_command(self._detector, before, command, self._stream_s)
            if isinstance(command, RoastCommand) and command.action in CORRECTIONS:
                event = self.corrections.apply(
                    command.action, command.origin, self._detector, self._stream_s,
                    self._wall, self.scorer.name, self.event,
                )
            self.corrections.follow(self._detector)
            if isinstance(command, RoastCommand) and self._detector.confirmation is None:
                self.event = None
            if event is not None and event.event_type == "first_crack":
                self.event = event
            settings = self._settings
            snapshot = self._snapshot_locked()
        if settings != before and self._persistence is not None:
            self._persistence.save(settings.runtime_values())
        log.info("%s command applied: %s", command.origin, command)
        for sink in self.sinks:
            if event is not None:
                sink.event(event)
            sink.publish_settings(settings)
            sink.state(snapshot)

    @property
    def detector(self) -> Detector:
        return self._detector
