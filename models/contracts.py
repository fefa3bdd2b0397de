"""What the agent and the model lifecycle must agree on, in one dependency-free module.

Both sides import this module and nothing else from each other for these facts, so a
change here is a change to both. It imports only the standard library.

- `SAMPLE_RATE`: every window, recording, simulated roast and model input is mono
  float audio at this rate. Sources resample to it; models declare it in their
  preprocessor config, and the chain refuses a model that wants another.
- `PUBLISHED_MODEL`: the hub id of the published first-crack AST, the default `model`.
- `Scorer`: what the agent needs of any model, and all it needs: a name, and a batch
  of windows in, one p(first_crack) per window out. Every classifier and the ear are
  scorers; the runtime, the scoring step and the ear gate take one.
- `UserError`: the base of every error that means "the user asked for something
  wrong" (a bad config key, an unreadable file, a model that cannot be loaded). The
  command line prints its message on one line and exits 2, without a traceback.
- The recorder sidecar (docs/RECORDINGS.md): the JSON written beside every recorded
  roast. The agent's recorder writes it, the simulator writes it for simulated user
  roasts, and training and `tune` read it. `Sidecar.to_json` is the only writer of its
  layout and `recorder_meta`/`label_source` the only readers of its keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000
"""Hz: the rate of every window the agent scores and every recording it writes."""

PUBLISHED_MODEL = "syamaner/coffee-first-crack-detection"
"""The published first-crack AST on the Hugging Face hub: the default model."""


class Scorer(Protocol):
    """Windows in, p(first_crack) out.

    `windows` is `[batch, samples]` float32 mono at `SAMPLE_RATE`; the result is one
    probability per window. `streams` names each window's audio stream (the roaster), so
    a scorer that keeps per-stream state (incremental features) keeps it apart.
    """

    name: str
    """The model reference as given (e.g. "demo", a path, a hub id)."""

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray: ...


class UserError(Exception):
    """A mistake in what the user asked for: exit 2 with the message, never a traceback."""


SIDECAR_FORMAT = 1
"""The `firstcrack.format` a sidecar carries; bumped only for an incompatible change."""

SIDECAR_KEY = "firstcrack"
"""The key of the agent's block in a sidecar; a JSON without it is a plain annotation."""

DEFAULT_REGION_S = 120.0
"""Length of a first-crack region when no later end is known."""


@dataclass(frozen=True)
class AgentDecision:
    """The agent's own call on a roast, in seconds from the file start (None when absent)."""

    onset_s: float | None = None
    detected_s: float | None = None
    first_crack_end_s: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return {"onset_s": self.onset_s, "detected_s": self.detected_s,
                "first_crack_end_s": self.first_crack_end_s}


@dataclass(frozen=True)
class Sidecar:
    """One recording's sidecar: the training annotation layout plus the agent's block.

    Times are seconds from the start of the audio file. `annotations` is the training
    layout's list of `{"start_time", "end_time", "label"}` regions; `label_source` is
    "user" when a person marked the roast, else "agent". `extra` adds keys to the
    agent's block (the simulator's `sim_seed`) and may not replace one.
    """

    audio_file: str
    duration: float
    label_source: str
    annotations: Sequence[Mapping[str, Any]] = ()
    complete: bool = True
    agent_id: str | None = None
    started_ts: str | None = None
    ended_ts: str | None = None
    end_reason: str | None = None
    roast_offset_s: float | None = 0.0
    model: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    charge_s: float | None = None
    drop_s: float | None = None
    agent: AgentDecision = AgentDecision()
    marks: Sequence[Mapping[str, Any]] = ()
    events: Sequence[Mapping[str, Any]] = ()
    windows: Sequence[Sequence[float]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "format": SIDECAR_FORMAT,
            "complete": self.complete,
            "agent_id": self.agent_id,
            "started_ts": self.started_ts,
            "ended_ts": self.ended_ts,
            "end_reason": self.end_reason,
            "roast_offset_s": self.roast_offset_s,
            "sample_rate": SAMPLE_RATE,
            "model": self.model,
            "settings": dict(self.settings),
            "charge_s": self.charge_s,
            "drop_s": self.drop_s,
            "agent": self.agent.to_json(),
            "marks": [dict(m) for m in self.marks],
            "events": [dict(e) for e in self.events],
            "windows": [list(w) for w in self.windows],
        }
        clash = set(self.extra) & set(block)
        if clash:
            raise ValueError(f"sidecar extra keys would replace {sorted(clash)}")
        block.update(self.extra)
        return {
            "audio_file": self.audio_file,
            "duration": self.duration,
            "annotations": [dict(a) for a in self.annotations],
            "label_source": self.label_source,
            SIDECAR_KEY: block,
        }


def recorder_meta(doc: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The agent's block of a sidecar, or None when `doc` is not a recorder sidecar."""
    if not isinstance(doc, Mapping):
        return None
    meta = doc.get(SIDECAR_KEY)
    return meta if isinstance(meta, Mapping) else None


def label_source(doc: Mapping[str, Any]) -> str:
    """"user" when a person labelled the recording, else "agent"."""
    return "user" if doc.get("label_source") == "user" else "agent"


def first_crack_region(start: float | None, end: float | None,
                       duration: float) -> list[dict[str, Any]]:
    """The annotation list for one first-crack region, clipped to the audio.

    No start, or a start at or past the end of the audio, gives no region. A start
    before the file is clipped to 0. The region ends at `end` when that is later than
    its start, else `DEFAULT_REGION_S` after it, and never past `duration`.
    """
    if start is None:
        return []
    start = max(0.0, start)
    if start >= duration:
        return []
    stop = end if end is not None and end > start else start + DEFAULT_REGION_S
    stop = min(stop, duration)
    if stop <= start:
        return []
    return [{"start_time": round(start, 3), "end_time": round(stop, 3), "label": "first_crack"}]
