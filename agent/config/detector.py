"""The `detector` section: the one place where detector and cadence limits are written.

Everything else that accepts these values reads them from here: the `/set`
topics (agent/mqtt/validation.py, through `setting_bounds`/`check_setting`),
`evaluate`'s flags (through `load_config` overrides), the persisted `/set`
values (through `AgentConfig.with_detector`), and the pure cadence
(agent/core/cadence.py keeps defaults only, no limits of its own).

Bounds, decided once:

- `threshold` 0..1: a probability; both ends are legal (0: every window is
  positive; 1: only p = 1 is).
- `min_positive` 1..100 whole windows: 1 confirms on the first positive.
- `confirm_s` 1..600 s, *at least 1*, not merely > 0: it is the k_of_n span or
  the evidence half-life over 10 s windows scored at most every 0.5 s; below
  1 s a span holds at most two windows and the evidence halves between two
  windows, so `min_positive` above 2 could never confirm. 1 s is also what
  the MQTT interface always allowed, so no accepted `/set` value becomes invalid.
- `hop_s` 0.5..60 s, and `dense_hop_s` (None = `hop_s`) within the same
  range: below 0.5 s the classifier cannot keep up on the target hardware.
- `idle_hop_s` 1..120 s: the adaptive cadence's ring buffer keeps
  2 x `idle_hop_s` + 60 s of audio for lookback (5 minutes, ~19 MB, at 120 s),
  and a longer idle hop only delays waking. `idle_hop_s` shorter than the dense
  hop is allowed and means no thinning (the cadence never idles faster than it
  runs dense).
- `dense_hop_s` must not exceed `idle_hop_s` (the one cross-field rule; a
  `KeyedValueError`, so the error names `detector.dense_hop_s`).

The runtime-settable fields (`RUNTIME_FIELDS`) take part in no cross-field
rule: `/set` checks one value alone against its field, so a rule between
fields would hold in the file and not over MQTT.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from firstcrack.agent.config.bounds import FieldBounds, field_adapter, field_bounds
from firstcrack.agent.config.errors import KeyedValueError
from firstcrack.agent.config.sections import RecordingConfig, Section
from firstcrack.agent.core.cadence import CadenceConfig
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES, RuntimeSettings

_DEFAULTS = RuntimeSettings()
_CADENCE = CadenceConfig()
HOP_MIN_S, HOP_MAX_S = 0.5, 60.0


class DetectorConfig(Section):
    """Detector parameters (README, "Detector"); the first five are runtime-settable."""

    threshold: float = Field(_DEFAULTS.threshold, ge=0.0, le=1.0)
    min_positive: int = Field(_DEFAULTS.min_positive, ge=1, le=100)
    confirm_s: float = Field(_DEFAULTS.confirm_s, ge=1.0, le=600.0)
    hop_s: float = Field(_DEFAULTS.hop_s, ge=HOP_MIN_S, le=HOP_MAX_S)
    window_s: float = Field(10.0, ge=1.0, le=30.0)
    min_roast_s: float = Field(_DEFAULTS.min_roast_s, ge=0, le=3600)
    silence_dbfs: float = Field(_DEFAULTS.silence_dbfs, ge=-160, le=0)
    auto_arm: bool = _DEFAULTS.armed
    # How positives confirm first crack (agent/core/detector.py): a leaky evidence count, or k-of-n.
    rule: Literal["evidence", "k_of_n"] = _DEFAULTS.rule
    # Adaptive cadence (agent/core/cadence.py): infer every idle_hop_s while nothing suggests
    # first crack; at hop_s (or dense_hop_s) once p rises or the pop rate does.
    cadence: Literal["fixed", "adaptive"] = _CADENCE.mode
    idle_hop_s: float = Field(_CADENCE.idle_hop_s, ge=1.0, le=120.0)
    dense_hop_s: float | None = Field(_CADENCE.dense_hop_s, ge=HOP_MIN_S, le=HOP_MAX_S)
    cadence_rise_fraction: float = Field(_CADENCE.rise_fraction, gt=0.0, le=1.0)
    cadence_pops_per_min: float = Field(_CADENCE.pops_per_min, ge=0.0, le=100000.0)  # 0: off
    cadence_hold_s: float = Field(_CADENCE.hold_s, ge=0.0, le=600.0)
    # The ear gate (agent/core/gate.py): with an AST as the model, the shipped ear scores
    # densely and wakes the AST; the AST still runs at least every gate_idle_s. `off`: no ear.
    gate: Literal["auto", "off"] = "auto"
    gate_idle_s: float = Field(60.0, ge=5.0, le=60.0)
    # Second crack (agent/core/second_crack.py), heard by the ear: the main model when it is
    # the ear, else the ear gate in front of an AST. `off`: not looked for, no keys for it.
    # Looked for once first crack is confirmed, or from second_crack_min_roast_s of roast.
    # Off by default: the shipped ear misses most held-out second cracks (README,
    # "Detection quality"), and the rule is to ship it on only when it meets them.
    second_crack: Literal["on", "off"] = "off"
    second_crack_min_roast_s: float = Field(480.0, ge=60.0, le=3600.0)

    @field_validator("gate", "second_crack", mode="before")
    @classmethod
    def _switch_words(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML (and so the environment) reads a bare `on`/`off` as a boolean."""
        if isinstance(value, bool):
            return ("auto" if info.field_name == "gate" else "on") if value else "off"
        return value

    @model_validator(mode="after")
    def _dense_within_idle(self) -> DetectorConfig:
        dense = self.dense_hop_s
        if dense is not None and dense > self.idle_hop_s:
            raise KeyedValueError(
                "dense_hop_s",
                f"must be at most idle_hop_s ({self.idle_hop_s:g} s), got {dense:g}",
            )
        return self

    def to_cadence(self) -> CadenceConfig:
        """The `CadenceConfig` these settings describe."""
        return CadenceConfig(
            mode=self.cadence,
            idle_hop_s=self.idle_hop_s,
            dense_hop_s=self.dense_hop_s,
            rise_fraction=self.cadence_rise_fraction,
            pops_per_min=self.cadence_pops_per_min,
            hold_s=self.cadence_hold_s,
        )

    def to_settings(self) -> RuntimeSettings:
        return RuntimeSettings(
            threshold=self.threshold,
            min_positive=self.min_positive,
            confirm_s=self.confirm_s,
            hop_s=self.hop_s,
            armed=self.auto_arm,
            min_roast_s=self.min_roast_s,
            silence_dbfs=self.silence_dbfs,
            rule=self.rule,
        )


RUNTIME_FIELDS: dict[str, str] = {
    **{name: f"detector.{name}" for name in RUNTIME_SETTING_NAMES},
    "armed": "detector.auto_arm",
    "recording": "recording.enabled",
}
"""Runtime setting name (`<base>/<name>/set`) -> the config key (`section.field`) that
bounds it and gives its start value."""


def _runtime_field(name: str) -> tuple[type[Section], str]:
    section, key = RUNTIME_FIELDS[name].split(".")
    return {"detector": DetectorConfig, "recording": RecordingConfig}[section], key


for _name in RUNTIME_SETTING_NAMES:
    _section, _key = _runtime_field(_name)
    if _key not in _section.model_fields:  # pragma: no cover
        raise TypeError(f"runtime setting {_name!r} has no config field: {RUNTIME_FIELDS}")


def setting_bounds(name: str) -> FieldBounds:
    """Type and limits of a runtime setting, from its config field."""
    return field_bounds(*_runtime_field(name))


def check_setting(name: str, value: Any) -> Any:
    """`value` validated as the setting's config field alone (type and range).

    Raises pydantic's ValidationError; the caller turns it into its own message.
    """
    return field_adapter(*_runtime_field(name)).validate_python(value)
