"""Detection profiles: the detector settings a model was chosen with travel with the model.

A model folder may carry `detection_profile.json`:

    {"threshold": 0.5, "rule": "evidence", "min_positive": 3, "confirm_s": 20.0,
     "window_s": 3.0, "hop_s": 1.0, "note": "free text"}

Every key but `note` is required. The values were picked for that model by event-level
figures on held-out roasts (the model card says how); another model's values mean nothing
for it. A model without a profile (the published hub checkpoint, a folder exported by an
older version) gets `PUBLISHED_PROFILE`, the settings the published AST's authors give.

Contract with the agent: a profile fills only the `detector` keys the user did not set.
A key set in the config file, the environment, a CLI flag or a `/set` topic always wins,
key by key (`firstcrack.agent.config.profiles.with_profile`).

Invariant: loading a profile never raises anything but `ProfileError`, whose message
names the file and the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROFILE_FILE = "detection_profile.json"
PROFILE_KEYS: tuple[str, ...] = (
    "threshold", "rule", "min_positive", "confirm_s", "window_s", "hop_s",
)
"""The detector keys a profile sets; each is a `detector.<key>` of the agent's config."""
RULES = ("evidence", "k_of_n")


class ProfileError(ValueError):
    """A `detection_profile.json` that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class DetectionProfile:
    """Detector settings chosen for one model, and where they come from.

    source: "model" (the model folder's own file) or "published" (the published AST's
        settings, for a model with no profile).
    """

    threshold: float
    rule: str
    min_positive: int
    confirm_s: float
    window_s: float
    hop_s: float
    source: str = "model"
    note: str = ""

    def settings(self) -> dict[str, Any]:
        """The `detector` keys this profile sets."""
        values = asdict(self)
        return {key: values[key] for key in PROFILE_KEYS}


PUBLISHED_PROFILE = DetectionProfile(
    threshold=0.6, rule="k_of_n", min_positive=5, confirm_s=20.0, window_s=10.0, hop_s=3.0,
    source="published",
    note="the published AST's settings: p >= 0.6 in 5 windows within 20 s, 10 s windows, 3 s hop",
)


def _number(file: Path, data: dict[str, Any], key: str, low: float, high: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{file}: '{key}' must be a number, got {value!r}")
    if not low <= value <= high:
        raise ProfileError(f"{file}: '{key}' must be within {low:g}..{high:g}, got {value!r}")
    return float(value)


def parse_profile(data: Any, file: Path) -> DetectionProfile:
    """A profile from its decoded JSON; `file` only names it in errors."""
    if not isinstance(data, dict):
        raise ProfileError(f"{file}: expected a JSON object")
    unknown = sorted(set(data) - set(PROFILE_KEYS) - {"note"})
    if unknown:
        raise ProfileError(f"{file}: unknown key(s) {', '.join(unknown)}")
    missing = [key for key in PROFILE_KEYS if key not in data]
    if missing:
        raise ProfileError(f"{file}: missing key(s) {', '.join(missing)}")
    if data["rule"] not in RULES:
        raise ProfileError(f"{file}: 'rule' must be one of {', '.join(RULES)}")
    min_positive = data["min_positive"]
    if isinstance(min_positive, bool) or not isinstance(min_positive, int) or min_positive < 1:
        raise ProfileError(f"{file}: 'min_positive' must be a whole number >= 1")
    return DetectionProfile(
        threshold=_number(file, data, "threshold", 0.0, 1.0),
        rule=data["rule"],
        min_positive=min_positive,
        confirm_s=_number(file, data, "confirm_s", 1.0, 600.0),
        window_s=_number(file, data, "window_s", 1.0, 30.0),
        hop_s=_number(file, data, "hop_s", 0.5, 60.0),
        note=str(data.get("note", "")),
    )


def read_profile(file: Path) -> DetectionProfile:
    """Read and check one `detection_profile.json`."""
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{file}: {exc}") from None
    return parse_profile(data, file)


def find_profile(path: Path | None) -> DetectionProfile:
    """The profile of the model at `path`, else `PUBLISHED_PROFILE`.

    A directory is looked in; for a file (an .onnx), its folder and up to two folders
    above it are, nearest first, as for `config.json`. None (a hub id) has no folder.
    """
    if path is None:
        return PUBLISHED_PROFILE
    folders = [path] if path.is_dir() else [path.parent, *path.parent.parents[:2]]
    for folder in folders:
        file = folder / PROFILE_FILE
        if file.is_file():
            return read_profile(file)
    return PUBLISHED_PROFILE


def write_profile(folder: Path, profile: DetectionProfile) -> Path:
    """Write `profile` as `folder/detection_profile.json` (the `source` is not stored)."""
    file = folder / PROFILE_FILE
    data = {**profile.settings(), "note": profile.note} if profile.note else profile.settings()
    file.write_text(json.dumps(data, indent=2) + "\n")
    return file
