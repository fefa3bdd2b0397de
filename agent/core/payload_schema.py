"""The declared keys of the `telemetry` and `state` payloads: one table, the contract.

Home Assistant templates, dashboards and roaster controllers read these keys by name,
so a key is added, never renamed or removed (tests/test_payload_schema.py holds the
published ones in place). Every key is declared once here with its type and the
component that provides it; the runtime refuses a provider whose values do not match
its declared keys, Home Assistant discovery builds its sensors from the `entity` of
each field (agent/mqtt/discovery.py), and docs/PAYLOADS.md is rendered from this table
(`python -m firstcrack.agent.core.payload_schema`).

Providers, by name:

- `detector`: the window's decision and the roast lifecycle (agent/core/detector.py);
- `runtime`: what the runtime counts or measures (agent/core/runtime.py);
- `development`: DTR and first crack's end (agent/core/events.py, crack_end.py);
- `settings`: the runtime settings in effect, the values of `<base>/<name>/state`;
- `corrections`: the user's marks (agent/core/corrections.py);
- `transients`: the pop counter (agent/core/transients.py);
- `profile`: the detection profile in force (models/inference/profile.py);
- `second_crack`: second-crack detection, when on (agent/core/second_crack.py);
- `source`: the audio source's health counters (agent/sources/);
- `mqtt`: the MQTT sink (agent/mqtt/publisher.py);
- `recorder`: the roast recorder (agent/recording/).

A field whose provider is not part of an agent (no MQTT, a source without counters) is
absent from its payloads; `always` says which fields every agent (agent/live/app.py)
publishes. A `health`
field re-publishes the state when it changes (at most every 10 s of stream).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Topic = Literal["telemetry", "state"]
Kind = Literal["number", "integer", "string", "boolean", "timestamp", "object"]


@dataclass(frozen=True)
class Entity:
    """The Home Assistant entity built from one field: discovery config apart from the
    topics, device and availability. `template` is the `value_template`."""

    component: Literal["sensor", "binary_sensor"]
    object_id: str
    name: str
    template: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PayloadField:
    key: str
    topic: Topic
    kind: Kind
    provider: str
    doc: str
    nullable: bool = False
    always: bool = True
    health: bool = False
    entity: Entity | None = None


@dataclass(frozen=True)
class RoastClock:
    """What a provider may know of the roast when asked for its values."""

    roast_start_s: float | None
    """Stream seconds of the roast start (CHARGE), or None when no roast runs."""
    now_s: float
    """Stream seconds now."""
    wall: Callable[[float], float]
    """Stream seconds -> wall-clock epoch seconds."""


class PayloadProvider(Protocol):
    """A component that adds declared keys to `telemetry` and `state`."""

    provider: str

    def payload_values(self, topic: Topic, clock: RoastClock) -> Mapping[str, Any]:
        """Exactly its declared keys for `topic` (none: an empty mapping)."""
        ...


def _sensor(object_id: str, name: str, key: str, **options: Any) -> Entity:
    return Entity("sensor", object_id, name, f"{{{{ value_json.{key} | default(None) }}}}",
                  options)


def _measure(object_id: str, name: str, key: str, **options: Any) -> Entity:
    """A telemetry sensor: a measurement that expires when the agent stops scoring."""
    return Entity("sensor", object_id, name, f"{{{{ value_json.{key} }}}}",
                  {"state_class": "measurement", **options, "expire_after": True})


_T, _S = "telemetry", "state"

FIELDS: tuple[PayloadField, ...] = (
    # --- telemetry: one per scored window ---
    PayloadField("ts", _T, "timestamp", "detector", "wall-clock time of the window end"),
    PayloadField("roast_s", _T, "number", "detector",
                 "roast clock at the window end, s (null before a roast starts)", nullable=True),
    PayloadField("audio_s", _T, "number", "detector", "stream time of the window end, s"),
    PayloadField("probability", _T, "number", "detector",
                 "p(first_crack) in 0..1 (0 when silence-gated)",
                 entity=_measure("probability", "First crack probability", "probability",
                                 suggested_display_precision=2)),
    PayloadField("threshold", _T, "number", "settings", "the threshold in effect"),
    PayloadField("dbfs", _T, "number", "runtime", "window RMS level, dBFS",
                 entity=_measure("dbfs", "Audio level", "dbfs", unit_of_measurement="dB",
                                 entity_category="diagnostic",
                                 suggested_display_precision=1)),
    PayloadField("inference_ms", _T, "number", "runtime", "classifier time for the window, ms"),
    PayloadField("phase", _T, "string", "detector",
                 "`idle`, `armed`, `first_crack` or `second_crack`"),
    PayloadField("silent", _T, "boolean", "runtime", "the silence gate scored this window 0"),
    PayloadField("positive_windows", _T, "integer", "detector",
                 "positive windows counting towards confirmation"),
    PayloadField("dropped_windows", _T, "integer", "runtime",
                 "windows skipped so far because inference fell behind"),
    PayloadField("development_ratio", _T, "number", "development",
                 "development time / roast time (DTR), null before first crack", nullable=True),
    PayloadField("pops_per_min", _T, "number", "transients", "pops heard in the last minute",
                 entity=Entity("sensor", "pops_per_minute", "Pops per minute",
                               "{{ value_json.pops_per_min | default(None) }}",
                               {"unit_of_measurement": "1/min", "state_class": "measurement",
                                "expire_after": True})),
    PayloadField("second_crack_probability", _T, "number", "second_crack",
                 "p(second_crack) of the ear's latest window (null before it scored one)",
                 nullable=True, always=False),
    # --- state: retained, on every change ---
    PayloadField("phase", _S, "string", "detector",
                 "`idle`, `armed`, `first_crack` or `second_crack`",
                 entity=Entity("sensor", "phase", "Roast phase", "{{ value_json.phase }}",
                               {"device_class": "enum",
                                "options": ["idle", "armed", "first_crack", "second_crack"],
                                "icon": "mdi:coffee", "qos": 1})),
    PayloadField("first_crack", _S, "boolean", "detector", "first crack confirmed this roast",
                 entity=Entity("binary_sensor", "first_crack_this_roast",
                               "First crack this roast",
                               "{{ 'ON' if value_json.first_crack else 'OFF' }}",
                               {"payload_on": "ON", "payload_off": "OFF", "qos": 1})),
    PayloadField("first_crack_ts", _S, "timestamp", "detector",
                 "back-dated first-crack onset", nullable=True),
    PayloadField("roast_started_ts", _S, "timestamp", "detector", "roast start (CHARGE)",
                 nullable=True),
    PayloadField("development_s", _S, "number", "detector",
                 "seconds since first crack; frozen at drop", nullable=True,
                 entity=Entity("sensor", "development_time", "Development time",
                               "{{ value_json.development_s }}",
                               {"unit_of_measurement": "s", "device_class": "duration",
                                "entity_category": "diagnostic",
                                "suggested_display_precision": 0})),
    PayloadField("roast_s", _S, "number", "detector", "roast clock, s", nullable=True),
    PayloadField("threshold", _S, "number", "settings", "runtime setting"),
    PayloadField("min_positive", _S, "integer", "settings", "runtime setting"),
    PayloadField("confirm_s", _S, "number", "settings", "runtime setting"),
    PayloadField("hop_s", _S, "number", "settings", "runtime setting"),
    PayloadField("armed", _S, "boolean", "settings", "runtime setting"),
    PayloadField("recording", _S, "boolean", "settings", "runtime setting: the recording switch"),
    PayloadField("dropped_windows", _S, "integer", "runtime",
                 "windows skipped so far because inference fell behind"),
    PayloadField("development_ratio", _S, "number", "development",
                 "development time / roast time (DTR)", nullable=True,
                 entity=Entity("sensor", "development_ratio", "Development time ratio",
                               "{{ (value_json.development_ratio * 100) | round(1) "
                               "if value_json.development_ratio is number else None }}",
                               {"unit_of_measurement": "%", "state_class": "measurement",
                                "entity_category": "diagnostic",
                                "suggested_display_precision": 1})),
    PayloadField("first_crack_end_ts", _S, "timestamp", "development",
                 "back-dated end of first crack", nullable=True),
    PayloadField("first_crack_end_roast_s", _S, "number", "development",
                 "roast clock at the end of first crack", nullable=True),
    PayloadField("user_label", _S, "boolean", "corrections",
                 "this roast has a correction from the user",
                 entity=Entity("binary_sensor", "user_label", "Roast labelled by you",
                               "{{ 'ON' if value_json.user_label | default(false) else 'OFF' }}",
                               {"payload_on": "ON", "payload_off": "OFF",
                                "entity_category": "diagnostic", "qos": 1})),
    PayloadField("user_first_crack_ts", _S, "timestamp", "corrections",
                 "the user's standing first-crack mark", nullable=True),
    PayloadField("crack_count", _S, "integer", "transients",
                 "pops since the roast started (null with no roast)", nullable=True,
                 entity=Entity("sensor", "crack_count", "Crack count",
                               "{{ value_json.crack_count | default(None) }}",
                               {"state_class": "measurement"})),
    PayloadField("second_crack", _S, "boolean", "second_crack",
                 "second crack confirmed this roast", always=False,
                 entity=Entity("binary_sensor", "second_crack_this_roast",
                               "Second crack this roast",
                               "{{ 'ON' if value_json.second_crack | default(false) else 'OFF' }}",
                               {"payload_on": "ON", "payload_off": "OFF", "qos": 1})),
    PayloadField("second_crack_ts", _S, "timestamp", "second_crack",
                 "back-dated second-crack onset", nullable=True, always=False),
    PayloadField("first_to_second_crack_s", _S, "number", "second_crack",
                 "seconds from the first-crack onset to the second-crack onset",
                 nullable=True, always=False,
                 entity=_sensor("first_to_second_crack", "First to second crack",
                                "first_to_second_crack_s", unit_of_measurement="s",
                                device_class="duration", suggested_display_precision=0,
                                qos=1)),
    PayloadField("detection_profile", _S, "object", "profile",
                 "the detection profile in force: source, overridden keys, values",
                 always=False),
    PayloadField("dropped_telemetry", _S, "integer", "mqtt",
                 "telemetry messages dropped while the broker was away", always=False),
    PayloadField("source_overruns", _S, "integer", "source", "audio input overruns",
                 always=False, health=True,
                 entity=_sensor("source_overruns", "Audio input overruns", "source_overruns",
                                state_class="total_increasing", entity_category="diagnostic",
                                icon="mdi:waveform", qos=1)),
    PayloadField("source_dropped_blocks", _S, "integer", "source", "audio blocks dropped",
                 always=False, health=True,
                 entity=_sensor("source_dropped_blocks", "Audio blocks dropped",
                                "source_dropped_blocks", state_class="total_increasing",
                                entity_category="diagnostic",
                                icon="mdi:package-variant-remove", qos=1)),
    PayloadField("source_reopens", _S, "integer", "source", "audio device reopens",
                 always=False, health=True,
                 entity=_sensor("source_reopens", "Audio device reopens", "source_reopens",
                                state_class="total_increasing", entity_category="diagnostic",
                                icon="mdi:restart", qos=1)),
    PayloadField("recording_active", _S, "boolean", "recorder", "a file is being written now"),
    PayloadField("recordings_mb", _S, "number", "recorder", "recordings on disk, MiB",
                 entity=_sensor("recordings_size", "Recordings on disk", "recordings_mb",
                                unit_of_measurement="MiB", device_class="data_size",
                                state_class="measurement", entity_category="diagnostic",
                                suggested_display_precision=0, qos=1)),
    PayloadField("recordings", _S, "integer", "recorder", "recordings kept"),
    PayloadField("recording_error", _S, "string", "recorder", "why recording is paused",
                 nullable=True),
)

PROVIDERS = frozenset(f.provider for f in FIELDS)


def fields(topic: Topic, provider: str | None = None) -> tuple[PayloadField, ...]:
    return tuple(f for f in FIELDS
                 if f.topic == topic and (provider is None or f.provider == provider))


def keys(topic: Topic, provider: str | None = None) -> frozenset[str]:
    return frozenset(f.key for f in fields(topic, provider))


class PayloadSchemaError(ValueError):
    """A provider gave keys its declaration does not list (a programming error)."""


def check_provided(provider: str, topic: Topic, values: Mapping[str, Any]) -> None:
    """Raise PayloadSchemaError unless `values` has exactly the declared keys."""
    expected = keys(topic, provider)
    if set(values) != expected:
        raise PayloadSchemaError(
            f"{provider} gave {topic} keys {sorted(values)}, declared {sorted(expected)} "
            "(agent/core/payload_schema.py)")


class Providers:
    """One runtime's payload providers, each asked for its values and checked."""

    def __init__(self) -> None:
        self._all: list[PayloadProvider] = []

    def add(self, provider: PayloadProvider) -> None:
        if provider.provider not in PROVIDERS:
            raise ValueError(f"{provider.provider!r} is not a declared payload provider")
        if any(p.provider == provider.provider for p in self._all):
            raise ValueError(f"{provider.provider!r} already provides its keys")
        self._all.append(provider)

    def values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        """Every provider's values for `topic`; PayloadSchemaError for undeclared keys."""
        out: dict[str, Any] = {}
        for provider in self._all:
            values = provider.payload_values(topic, clock)
            check_provided(provider.provider, topic, values)
            out.update(values)
        return out


HEALTH_KEYS = frozenset(f.key for f in FIELDS if f.health)


def health_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The health counters among `state` values: a change re-publishes the state."""
    return {key: value for key, value in state.items() if key in HEALTH_KEYS}


_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,),
    "timestamp": (str,), "object": (dict,),
}


def problems(topic: Topic, payload: Mapping[str, Any]) -> list[str]:
    """What is wrong with a published payload: undeclared, missing or mistyped keys."""
    out = [f"{key}: not declared" for key in sorted(set(payload) - keys(topic))]
    for f in fields(topic):
        if f.key not in payload:
            if f.always:
                out.append(f"{f.key}: missing")
            continue
        value = payload[f.key]
        if value is None:
            if not f.nullable:
                out.append(f"{f.key}: null")
            continue
        wanted = _KIND_TYPES[f.kind]
        if not isinstance(value, wanted) or (f.kind != "boolean" and isinstance(value, bool)):
            out.append(f"{f.key}: {type(value).__name__}, declared {f.kind}")
    return out


def render_markdown() -> str:
    """docs/PAYLOADS.md: the table of every key, by topic."""
    lines = ["# Payload keys", "",
             "Every key of the `telemetry` and `state` payloads. Keys are added, never renamed",
             "or removed. Generated from agent/core/payload_schema.py by",
             "`python -m firstcrack.agent.core.payload_schema`; do not edit it by hand.", ""]
    for topic in ("telemetry", "state"):
        lines += [f"## `<base>/{topic}`", "",
                  "| key | type | provided by | always | Home Assistant entity | meaning |",
                  "|---|---|---|---|---|---|"]
        for f in fields(topic):  # type: ignore[arg-type]
            kind = f.kind + (" or null" if f.nullable else "")
            entity = f"`{f.entity.component}.{f.entity.object_id}`" if f.entity else ""
            lines.append(f"| `{f.key}` | {kind} | {f.provider} | "
                         f"{'yes' if f.always else 'no'} | {entity} | {f.doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
