"""The agent's core: scores windows, runs the detector, and feeds the sinks.

`Runtime` is shared by the live agent and by offline `analyze`, so offline
evaluation measures the code that runs live.

One owner: the thread that scores windows is the only one that changes the
roast state or talks to the sinks. Commands from any transport (MQTT `/set`,
`roast/set`, a controller's CHARGE/DROP, Artisan, persisted settings) are
submitted to `runtime.commands` (agent/core/command_queue.py) and applied by that
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

from firstcrack.agent.core.command_queue import (
    CORRECTIONS,
    Command,
    CommandQueue,
    RoastCommand,
    SecondCrackScore,
    apply_command,
)
from firstcrack.agent.core.corrections import Corrections
from firstcrack.agent.core.crack_end import CrackEndTracker, FirstCrackEndEvent
from firstcrack.agent.core.detector import Decision, Detector
from firstcrack.agent.core.events import (
    DevelopmentFields,
    first_crack_end_event,
    first_crack_event,
    roast_state,
    second_crack_event,
    telemetry,
)
from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry
from firstcrack.agent.core.payload_schema import (
    PayloadProvider,
    Providers,
    RoastClock,
    Topic,
    health_of,
)
from firstcrack.agent.core.roast import Roast
from firstcrack.agent.core.roast_view import RoastView
from firstcrack.agent.core.scoring import dbfs
from firstcrack.agent.core.second_crack import SecondCrackFields, SecondCrackWatch
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import Sink
from firstcrack.models.contracts import Scorer

log = logging.getLogger("firstcrack.runtime")

STATE_REFRESH_S = 10.0  # stream s; state re-published this often in first crack (development_s)


class SettingsPersistence(Protocol):
    def save(self, values: dict[str, Any]) -> None: ...


class Runtime:
    """Windows in, telemetry/events/state out; commands applied by the scoring thread."""

    def __init__(
        self,
        scorer: Scorer,
        settings: RuntimeSettings,
        sinks: Sequence[Sink] = (),
        window_s: float = 10.0,
        auto_arm: bool = True,
        persistence: SettingsPersistence | None = None,
        clock: Callable[[], float] = time.time,
        crack_end: CrackEndTracker | None = None,
        second_crack: SecondCrackWatch | None = None,
    ) -> None:
        """`crack_end` turns first-crack END detection on (agent/core/crack_end.py),
        `second_crack` second-crack detection (agent/core/second_crack.py)."""
        self.scorer = scorer
        self.sinks = list(sinks)
        self._settings = settings
        self._detector = Detector(window_s=window_s, auto_arm=auto_arm)
        self._roast = self._detector.roast
        self._persistence = persistence
        self._clock = clock
        self._lock = threading.RLock()  # guards reads from other threads, not ordering
        self.commands = CommandQueue()
        self._anchor = (0.0, clock())  # (stream seconds, wall seconds)
        self._stream_s = 0.0
        self._last_state_s = 0.0
        self.dropped_windows = 0
        self.event: FirstCrackEvent | None = None
        self.corrections = Corrections()  # the user's marks for this roast
        self.crack_end = crack_end
        # Components that add declared keys to telemetry and state (payload_schema.py).
        self._providers = Providers()
        self._last_health: dict[str, Any] = {}
        self.add_provider(DevelopmentFields(self._roast, crack_end))
        self.add_provider(self.corrections)
        self.second_crack = second_crack
        self.second_crack_event: FirstCrackEvent | None = None
        if second_crack is not None:
            self.add_provider(SecondCrackFields(self._roast, second_crack))

    def add_provider(self, provider: PayloadProvider) -> None:
        """Add a component's declared keys to every telemetry and state from now on."""
        self._providers.add(provider)

    def _provided(self, topic: Topic) -> dict[str, Any]:
        clock = RoastClock(self._roast.roast_start_s, self._stream_s, self._wall)
        return self._providers.values(topic, clock)

    # -- time ------------------------------------------------------------
    def _wall(self, stream_s: float) -> float:
        anchor_s, anchor_wall = self._anchor
        return anchor_wall + (stream_s - anchor_s)

    def advance(self, stream_s: float) -> None:
        """Tell the runtime how far the stream has got (commands act at this time)."""
        with self._lock:
            self._stream_s = max(self._stream_s, stream_s)

    # -- windows ---------------------------------------------------------
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
        second_crack: float | None = None,
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
            phase_before = self._roast.phase
            decision = self._detector.update(end_s, probability, silent, settings, now_s=now_s)
            telemetry = self._telemetry(end_s, decision, level, inference_ms, settings)
            event = self._event(decision) if decision.confirmation else None
            end_event = self._crack_end_locked(end_s, decision, settings, telemetry)
            sc_event = None if second_crack is None or silent else self._second_crack_locked(
                end_s, second_crack, now_s)
            publish_state = (
                event is not None
                or end_event is not None
                or sc_event is not None
                or self._roast.phase is not phase_before
            )
            developing = self._roast.developing
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
            if sc_event is not None:
                sink.event(sc_event)
            if snapshot is not None:
                sink.state(snapshot)
        return telemetry

    def _telemetry(
        self,
        end_s: float,
        decision: Decision,
        level: float,
        inference_ms: float,
        settings: RuntimeSettings,
    ) -> Telemetry:
        extra = self._provided("telemetry")
        return telemetry(self._roast, end_s, self._wall, decision, settings, extra,
                         level=level, inference_ms=inference_ms,
                         dropped_windows=self.dropped_windows)

    def _event(self, decision: Decision) -> FirstCrackEvent:
        confirmation = decision.confirmation
        assert confirmation is not None
        self.event = first_crack_event(confirmation, self._roast, self._wall, self.scorer.name)
        log.info(
            "first crack confirmed at roast %.1f s (onset %.1f s, p=%.2f)",
            self.event.roast_s or 0.0,
            self.event.onset_roast_s or 0.0,
            confirmation.probability,
        )
        return self.event

    # -- first-crack end and development ratio ---------------------------
    def _crack_end_locked(
        self, end_s: float, decision: Decision, settings: RuntimeSettings, telemetry: Telemetry
    ) -> FirstCrackEndEvent | None:
        """Feed the end tracker; the `first_crack_end` event on the window that decides it."""
        tracker, det = self.crack_end, self._roast
        if tracker is None:
            return None
        pops = telemetry.extra.get("pops_per_min")
        ended = tracker.update(
            end_s,
            decision.probability,
            settings.threshold,
            det.confirmation,
            watching=det.developing,
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
            confirmation = self._roast.confirmation
            if confirmation is None:
                return False
            return self.crack_end is None or self.crack_end.result(confirmation) is not None

    def searching_second_crack(self) -> bool:
        """Second crack is on and being looked for now (agent/core/second_crack.py)."""
        with self._lock:
            watch = self.second_crack
            return watch is not None and watch.searching(self._roast, self._stream_s)

    # -- state and commands (the MQTT CommandHandler) --------------------
    def current_settings(self) -> RuntimeSettings:
        with self._lock:
            return self._settings

    settings = current_settings  # the MQTT CommandHandler's name for it

    def snapshot(self) -> RoastState:
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> RoastState:
        extra = self._provided("state")
        self._last_health = health_of(extra)
        return roast_state(self._roast, self._stream_s, self._wall, self._settings, extra,
                           dropped_windows=self.dropped_windows)

    def roast_view(self) -> RoastView:
        """The current roast for sinks that need more than the messages (the recorder)."""
        with self._lock:
            det = self._roast  # the marks follow the roast in _apply, where roasts change
            return RoastView(self._stream_s, det.roast_start_s, det.roast_end_s,
                             tuple(self.corrections.marks), self._settings, self._anchor)

    def _health_locked(self) -> dict[str, Any]:
        """The health counters now (a change re-publishes the state, at most every
        STATE_REFRESH_S stream seconds)."""
        return health_of(self._provided("state"))

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

    def _second_crack_locked(self, end_s: float, probability: float,
                              now_s: float) -> FirstCrackEvent | None:
        """Feed the second-crack watch; the `second_crack` event on the deciding window."""
        watch = self.second_crack
        if watch is None:
            return None
        confirmation = watch.update(self._roast, end_s, probability, now_s)
        if confirmation is None:
            return None
        self.second_crack_event = second_crack_event(confirmation, self._roast, self._wall,
                                                     self.scorer.name)
        log.info("second crack confirmed at stream %.1f s", confirmation.detected_s)
        return self.second_crack_event

    def _apply(self, command: Command) -> None:
        if isinstance(command, SecondCrackScore):  # the ear's, from the capture thread
            with self._lock:
                event = self._second_crack_locked(command.end_s, command.probability,
                                                  max(self._stream_s, command.end_s))
                if event is None:
                    return
                snapshot = self._snapshot_locked()
            for sink in self.sinks:
                sink.event(event)
                sink.state(snapshot)
            return
        event = None
        with self._lock:
            before = self._settings
            self._settings = apply_command(self._roast, before, command, self._stream_s)
            if isinstance(command, RoastCommand) and command.action in CORRECTIONS:
                event = self.corrections.apply(
                    command.action, command.origin, self._roast, self._stream_s,
                    self._wall, self.scorer.name, self.event, self.second_crack_event,
                )
            self.corrections.follow(self._roast)
            if isinstance(command, RoastCommand) and self._roast.confirmation is None:
                self.event = None
            if isinstance(command, RoastCommand) and self._roast.second_crack is None:
                self.second_crack_event = None
            if event is not None and event.event_type == "first_crack":
                self.event = event
            if event is not None and event.event_type == "second_crack":
                self.second_crack_event = event
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

    @property
    def roast(self) -> Roast:
        """The roast lifecycle (read it under no lock only from the scoring thread)."""
        return self._roast
