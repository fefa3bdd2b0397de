"""The runtime settings: what the scoring thread reads once per window.

The detector's parameters (README, "Detector") and the recording switch. Those named
in `RUNTIME_SETTING_NAMES` are the ones `/set` topics may change while running.

One frozen dataclass, swapped atomically: the MQTT thread builds a new instance
with `dataclasses.replace` and the inference thread reads the current one once
per window, so a window never sees half an update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

ConfirmRule = Literal["evidence", "k_of_n"]

# Names of the settings exposed as `<base>/<name>/set` and `<base>/<name>/state`.
RUNTIME_SETTING_NAMES: tuple[str, ...] = (
    "threshold",
    "min_positive",
    "confirm_s",
    "hop_s",
    "armed",
    "recording",
)


@dataclass(frozen=True)
class RuntimeSettings:
    """The detector's parameters and the recording switch.

    threshold: a window is positive when p(first_crack) >= threshold (0..1).
    min_positive: evidence needed to confirm first crack, in positive windows.
    confirm_s: seconds; under `k_of_n` the look-back span that must hold
        `min_positive` positives, under `evidence` the half-life of the
        accumulated evidence (agent/core/confirmation.py).
    hop_s: seconds between window ends (inference cadence when fixed).
    armed: whether positives may confirm first crack at all.
    min_roast_s: positives before this roast time (seconds) are ignored.
    silence_dbfs: windows quieter than this RMS level (dBFS) score 0.
    rule: "evidence" (leaky count of positives) or "k_of_n" (the published
        5-in-20 style count); set in the config file, not over MQTT.
    recording: whether roasts are recorded (agent/recording/); the config's
        `recording.enabled` is its start value, Home Assistant's switch changes it.
    """

    threshold: float = 0.6
    min_positive: int = 6
    confirm_s: float = 15.0
    hop_s: float = 3.0
    armed: bool = True
    min_roast_s: float = 0.0
    silence_dbfs: float = -70.0
    rule: ConfirmRule = "evidence"
    recording: bool = False

    def runtime_values(self) -> dict[str, Any]:
        """The `/state` payload values, keyed by runtime setting name."""
        values = asdict(self)
        return {name: values[name] for name in RUNTIME_SETTING_NAMES}


def format_setting(value: Any) -> str:
    """Render a setting as its plain `/state` payload (`ON`/`OFF` for booleans)."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
