"""What one roast looks like to the recorder: its span, the user's marks, the settings.

The runtime (agent/core/runtime.py) owns the roast state; a sink that needs
more than the published messages (the recorder, agent/recording/) reads a
`RoastView` from `Runtime.roast_view()` inside its sink methods, which run on
the scoring thread, so the view is always consistent with the last message.
All instants are stream seconds: samples since the source started / 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from firstcrack.agent.core.settings import RuntimeSettings

MarkKind = Literal["first_crack", "false_alarm", "second_crack", "second_crack_false_alarm"]


@dataclass(frozen=True)
class UserMark:
    """A correction from the user (docs/RECORDINGS.md, "Corrections").

    kind: `first_crack` ("I hear it now", or Artisan's FCs) or `false_alarm`.
    audio_s: when it arrived, stream seconds.
    ts: the same instant, ISO 8601 UTC.
    origin: the transport: `mqtt` (also Home Assistant's buttons) or `artisan`.
    """

    kind: MarkKind
    audio_s: float
    ts: str
    origin: str


@dataclass(frozen=True)
class RoastView:
    """A read-only snapshot of the current roast for sinks.

    stream_s: how far the stream has got.
    roast_start_s / roast_end_s: the roast's CHARGE (or arming) and DROP; None
        when there is no roast, or it has not been dropped.
    marks: this roast's user marks, oldest first.
    settings: the runtime settings in effect (`settings.recording` is the switch).
    anchor: (stream s, wall epoch s) of the latest window: wall(t) = anchor[1] + t - anchor[0].
    """

    stream_s: float
    roast_start_s: float | None
    roast_end_s: float | None
    marks: tuple[UserMark, ...]
    settings: RuntimeSettings
    anchor: tuple[float, float]

    def wall(self, stream_s: float) -> float:
        """Wall-clock epoch seconds of a stream instant."""
        return self.anchor[1] + (stream_s - self.anchor[0])

    @property
    def user_label(self) -> bool:
        """The user said something about this roast."""
        return bool(self.marks)
