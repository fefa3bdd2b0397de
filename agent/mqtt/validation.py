"""Validation of remote commands arriving on `/set` topics (README, "MQTT").

Every payload is untrusted: it is checked for size, UTF-8, type, range and
finiteness before anything sees it. Numbers are matched with an explicit
grammar instead of `float()`/`int()`, because those accept `nan`, `inf`,
`1_0`, and non-ASCII digits, none of which a UI should be able to send.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.core.settings import RUNTIME_SETTING_NAMES

MAX_PAYLOAD_BYTES = 64
ROAST_COMMANDS: tuple[str, ...] = ("start", "drop", "reset")

_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"[+-]?[0-9]+")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# Only ordinary surrounding whitespace is forgiven (a trailing newline from a CLI tool).
_STRIP = " \t\r\n"
_TRUE = {"on", "true", "1"}
_FALSE = {"off", "false", "0"}

# name -> (kind, low, high); ranges are inclusive.
_NUMERIC: dict[str, tuple[type, float, float]] = {
    "threshold": (float, 0.0, 1.0),
    "min_positive": (int, 1, 100),
    "confirm_s": (float, 1.0, 600.0),
    "hop_s": (float, 0.5, 60.0),
}


class CommandError(Exception):
    """A rejected remote command; the message says what is wrong with the payload."""


def _shown(text: str, limit: int = 40) -> str:
    """The offending text for an error message, quoted and truncated."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


def _decode(payload: bytes, what: str) -> str:
    """Size-check and decode; returns the stripped text."""
    if not isinstance(payload, bytes | bytearray):
        raise CommandError(f"{what}: payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(
            f"{what}: payload too large ({len(payload)} bytes, at most {MAX_PAYLOAD_BYTES})"
        )
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{what}: payload is not valid UTF-8") from None
    text = text.strip(_STRIP)
    if not text:
        raise CommandError(f"{what}: payload is empty")
    return text


def _parse_number(name: str, text: str) -> float | int:
    kind, low, high = _NUMERIC[name]
    if kind is int:
        wanted = f"a whole number between {int(low)} and {int(high)}"
    else:
        wanted = f"a number between {low:g} and {high:g}"
    if _NON_FINITE.fullmatch(text):
        raise CommandError(f"{name} must be a finite number ({wanted}), got {_shown(text)}")
    grammar = _INT if kind is int else _FLOAT
    if not grammar.fullmatch(text):
        raise CommandError(f"{name} must be {wanted}, got {_shown(text)}")
    value: float | int = int(text) if kind is int else float(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandError(f"{name} must be a finite number ({wanted}), got {_shown(text)}")
    if not low <= value <= high:
        raise CommandError(f"{name} must be {wanted}, got {_shown(text)} (out of range)")
    return value


def parse_setting(name: str, payload: bytes) -> Any:
    """Validate a `<base>/<name>/set` payload and return the typed value.

    threshold: float 0..1; min_positive: int 1..100; confirm_s: float 1..600 s;
    hop_s: float 0.5..60 s; armed: ON/OFF (also true/false/1/0, any case).
    Raises CommandError naming the setting and the problem.
    """
    if name not in RUNTIME_SETTING_NAMES:
        known = ", ".join(RUNTIME_SETTING_NAMES)
        raise CommandError(f"unknown setting {_shown(name)}; settable: {known}")
    text = _decode(payload, name)
    if name == "armed":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CommandError(f"armed must be ON or OFF, got {_shown(text)}")
    return _parse_number(name, text)


def parse_roast_command(payload: bytes) -> str:
    """Validate a `<base>/roast/set` payload: `start`, `drop` or `reset` (any case)."""
    text = _decode(payload, "roast").lower()
    if text not in ROAST_COMMANDS:
        raise CommandError(
            f"roast command must be one of {', '.join(ROAST_COMMANDS)}, got {_shown(text)}"
        )
    return text
