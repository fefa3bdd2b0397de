"""First-crack annotations from Artisan roast profiles (`.alog`).

Many home roasters log with Artisan and mark FCs/FCe by hand while they
record audio, so a profile is a ready-made first-crack label. An `.alog` file
is a Python-literal dict (written with `repr`, so it holds `True`, `None` and
single quotes); newer exports may be JSON. It is read with
`ast.literal_eval`, never `eval`: a profile is data from the outside.

Time base. `timex` holds one time per sample, in seconds, on Artisan's own
clock. `timeindex` holds indices into `timex` for the roast events:
`[CHARGE, DRY, FCs, FCe, SCs, SCe, DROP, COOL]`. For FCs/FCe an index of 0
means "not set"; for CHARGE, -1 (older files: 0 together with no data) means
"not set". The audio recording is assumed to start at `timex[0]`, the moment
Artisan started logging, because that is when a user who presses "ON" and
starts a recorder together begins both. When the recorder started later or
earlier, `audio_offset_s` says by how much: it is the Artisan time, in
seconds after `timex[0]`, at which the audio starts (negative when the audio
started first). So audio time = `timex[i] - timex[0] - audio_offset_s`.
Roast-relative times (from CHARGE) are kept as extra keys for reference.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

from firstcrack.models.contracts import UserError

log = logging.getLogger(__name__)

DEFAULT_FIRST_CRACK_S = 120.0
"""Seconds of first crack assumed when FCe is not marked (median is about 100 s)."""

CHARGE, FCS, FCE = 0, 2, 3
"""Positions in Artisan's `timeindex` list."""


class AlogError(UserError, ValueError):
    """An `.alog` profile that cannot be read or carries no first-crack mark."""


def read_alog(path: str | Path) -> dict[str, Any]:
    """Parse an Artisan profile safely (Python literal first, then JSON)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AlogError(f"{file}: cannot read profile: {exc}") from exc
    try:
        profile = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            profile = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AlogError(f"{file}: neither a Python-literal dict nor JSON") from exc
    if not isinstance(profile, dict):
        raise AlogError(f"{file}: profile is a {type(profile).__name__}, not a dict")
    return profile


def _event_time(timex: list[float], timeindex: list[int], slot: int) -> float | None:
    """Artisan time (seconds after timex[0]) of event `slot`, or None when unset."""
    if len(timeindex) <= slot:
        return None
    index = int(timeindex[slot])
    unset = index < 0 if slot == CHARGE else index <= 0
    if unset or index >= len(timex):
        return None
    return float(timex[index]) - float(timex[0])


def alog_annotation(
    path: str | Path,
    audio_file: str | None = None,
    audio_offset_s: float = 0.0,
    default_first_crack_s: float = DEFAULT_FIRST_CRACK_S,
    duration_s: float | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Build the project's annotation dict from an Artisan profile.

    Returns `(annotation, warnings)`. The annotation has the same shape as the
    simulator's JSON: `{"audio_file", "duration", "annotations": [{"start_time",
    "end_time", "label": "first_crack"}]}` plus `source`, `charge_s` and
    `first_crack_roast_s` (FCs seconds after CHARGE). `duration_s` is the
    audio's length in seconds when known; otherwise the profile's span is
    used. A missing FCe gives `FCs + default_first_crack_s` and a warning.
    Raises `AlogError` when the profile has no `timex`/`timeindex` or no FCs.
    """
    file = Path(path)
    profile = read_alog(file)
    timex = profile.get("timex")
    timeindex = profile.get("timeindex")
    if not isinstance(timex, list) or not timex or not isinstance(timeindex, list):
        raise AlogError(f"{file}: profile lacks 'timex'/'timeindex'")
    warnings: list[str] = []
    fcs = _event_time(timex, timeindex, FCS)
    if fcs is None:
        raise AlogError(f"{file}: first crack start (FCs, timeindex[2]) is not set")
    fce = _event_time(timex, timeindex, FCE)
    if fce is None or fce <= fcs:
        fce = fcs + default_first_crack_s
        warnings.append(
            f"{file}: first crack end (FCe) not set; assuming {default_first_crack_s:g} s after FCs"
        )
    charge = _event_time(timex, timeindex, CHARGE)
    span = float(timex[-1]) - float(timex[0]) - audio_offset_s
    duration = float(duration_s) if duration_s is not None else span
    start, end = fcs - audio_offset_s, fce - audio_offset_s
    for message in warnings:
        log.warning(message)
    annotation = {
        "audio_file": audio_file or file.with_suffix(".wav").name,
        "duration": duration,
        "annotations": [{"start_time": start, "end_time": end, "label": "first_crack"}],
        "source": f"artisan:{file.name}",
        "audio_offset_s": audio_offset_s,
        "charge_s": None if charge is None else charge - audio_offset_s,
        "first_crack_roast_s": None if charge is None else fcs - charge,
    }
    return annotation, warnings


def alog_charge_s(path: str | Path) -> float | None:
    """Artisan's CHARGE time (seconds after `timex[0]`), or None when it is not set.

    A recorder sidecar's `charge_s` is CHARGE in audio seconds, so a profile beside a
    recording aligns with `audio_offset_s = alog_charge_s(profile) - charge_s`
    (docs/RECORDINGS.md: audio time = Artisan time - Artisan's CHARGE + `charge_s`).
    """
    profile = read_alog(path)
    timex, timeindex = profile.get("timex"), profile.get("timeindex")
    if not isinstance(timex, list) or not timex or not isinstance(timeindex, list):
        return None
    return _event_time(timex, timeindex, CHARGE)
