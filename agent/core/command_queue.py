"""The one front door for commands that change the roast state.

Commands come from many places: MQTT `<base>/<setting>/set` and
`<base>/roast/set` (paho's network thread), a roaster controller's CHARGE and
DROP topics (the same thread), Artisan's buttons (the WebSocket thread), and
the settings persisted by earlier runs (start-up). Each transport validates its
own payload, turns it into one of the small command values below and calls
`CommandQueue.submit`. Nothing else touches the roast state.

The queue is drained by the one thread that scores windows (the runtime's
owner): before every window, and whenever the worker wakes up with no window
(so a command still lands within a fraction of a second while the microphone
is silent or stalled). Applying a command and announcing the new state to the
sinks happen on that thread, in submission order, so every snapshot reaches
the sinks in the order it was taken.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from firstcrack.agent.core.roast import Roast
    from firstcrack.agent.core.settings import RuntimeSettings

RoastAction = Literal["start", "drop", "reset", "first_crack_now", "false_alarm",
                      "second_crack_now", "second_crack_false_alarm"]
CORRECTIONS: tuple[str, ...] = ("first_crack_now", "false_alarm", "second_crack_now",
                                "second_crack_false_alarm")
"""Roast actions that are the user's corrections (docs/RECORDINGS.md); the runtime
applies them itself, because they record a mark and may publish an event."""


@dataclass(frozen=True)
class SetSetting:
    """Change one runtime setting (already validated by the transport)."""

    name: str
    value: Any
    origin: str = "mqtt"


@dataclass(frozen=True)
class RoastCommand:
    """`start` (CHARGE), `drop` (DROP) or `reset` the roast at the current stream time,
    or a correction: `first_crack_now` (the user hears it) or `false_alarm`."""

    action: RoastAction
    origin: str = "mqtt"


@dataclass(frozen=True)
class RestoreSettings:
    """Runtime settings persisted by an earlier run; applied before the first window."""

    values: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "persisted"


@dataclass(frozen=True)
class SecondCrackScore:
    """The ear's second-crack probability for one of its windows, scored on the capture
    thread (the ear gate in front of an AST); the runtime decides on it."""

    end_s: float
    probability: float
    origin: str = "ear"


@dataclass(frozen=True)
class Resync:
    """Re-announce the settings and the roast state as they are (a UI must snap back
    after a rejected `/set`, or Home Assistant came back online)."""

    origin: str = "mqtt"


Command = SetSetting | RoastCommand | RestoreSettings | Resync | SecondCrackScore


class CommandQueue:
    """A thread-safe FIFO of commands; `submit` from any thread, `drain` from the owner.

    `on_submit` is called after each submit (the live loop uses it to wake the
    scoring thread).
    """

    def __init__(self) -> None:
        self._items: deque[Command] = deque()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, wake: Callable[[], None]) -> None:
        """Call `wake()` after every submit (must be cheap and thread-safe)."""
        self._listeners.append(wake)

    def submit(self, command: Command) -> None:
        with self._lock:
            self._items.append(command)
        for wake in self._listeners:
            wake()

    def drain(self) -> list[Command]:
        """Every command submitted so far, oldest first; the queue is left empty."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._items)


def apply_command(
    roast: Roast, settings: RuntimeSettings, command: Command, now_s: float
) -> RuntimeSettings:
    """Apply one command to the roast at stream time `now_s`; the settings after it.

    Raises ValueError for a roast action or setting that does not exist.
    """
    if isinstance(command, SetSetting | RestoreSettings):
        values = (
            {command.name: command.value} if isinstance(command, SetSetting)
            else dict(command.values)
        )
        if "armed" in values:
            roast.set_armed(bool(values["armed"]), now_s)
        try:
            return dataclasses.replace(settings, **values)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(command, RoastCommand):
        actions = {"start": roast.start, "drop": roast.drop, "reset": roast.reset}
        if command.action in CORRECTIONS:
            return settings  # a correction: the runtime applies it through `Corrections`
        if command.action not in actions:
            raise ValueError(f"unknown roast command {command.action!r}")
        actions[command.action](now_s)
        if settings.armed != roast.armed:
            return dataclasses.replace(settings, armed=roast.armed)
        return settings
    if isinstance(command, Resync | SecondCrackScore):
        return settings
    raise ValueError(f"not a command: {command!r}")
