"""Validation of remote commands arriving on `/set` topics (README, "MQTT").

Every payload is untrusted: it is checked for size, UTF-8, type, range and
finiteness before anything sees it. Numbers are matched with an explicit
grammar instead of `float()`/`int()`, because those accept `nan`, `inf`,
`1_0`, and non-ASCII digits, none of which a UI should be able to send.

The wire grammar is this module's; the type and range are not. Each setting's
type (bool, int or float) and limits come from its `detector` field in the
config (agent/config/detector.py, `DetectorConfig`), and the parsed value is
validated by that field's own pydantic constraints, so a value is accepted
over `/set` exactly when the config file would accept it
(tests/test_remote.py checks every bound).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from firstcrack.agent.config import check_setting, setting_bounds
from firstcrack.agent.core.command_queue import CORRECTIONS
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES
from firstcrack.models.contracts import UserError

MAX_PAYLOAD_BYTES = 64
ROAST_COMMANDS: tuple[str, ...] = ("start", "drop", "reset", *CORRECTIONS)

_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"[+-]?[0-9]+")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# Only ordinary surrounding whitespace is forgiven (a trailing newline from a CLI tool).
_STRIP = " \t\r\n"
_TRUE = {"on", "true", "1"}
_FALSE = {"off", "false", "0"}


class CommandError(UserError):
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


def _parse_number(name: str, text: str, kind: type) -> float | int:
    """`text` as the setting's number, in its config range; CommandError states the range."""
    wanted = setting_bounds(name).describe()
    if _NON_FINITE.fullmatch(text):
        raise CommandError(f"{name} must be a finite number ({wanted}), got {_shown(text)}")
    grammar = _INT if kind is int else _FLOAT
    if not grammar.fullmatch(text):
        raise CommandError(f"{name} must be {wanted}, got {_shown(text)}")
    value: float | int = int(text) if kind is int else float(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandError(f"{name} must be a finite number ({wanted}), got {_shown(text)}")
    try:
        return check_setting(name, value)
    except ValidationError:
        raise CommandError(f"{name} must be {wanted}, got {_shown(text)} (out of range)") from None


def _parse_switch(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        value = True
    elif lowered in _FALSE:
        value = False
    else:
        raise CommandError(f"{name} must be ON or OFF, got {_shown(text)}")
    return bool(check_setting(name, value))


def parse_setting(name: str, payload: bytes) -> Any:
    """Validate a `<base>/<name>/set` payload and return the typed value.

    Type and range are the setting's `detector` field's (README, "MQTT"); a
    switch (`armed`) is ON/OFF (also true/false/1/0, any case). Raises
    CommandError naming the setting and the problem, with the allowed range.
    """
    if name not in RUNTIME_SETTING_NAMES:
        known = ", ".join(RUNTIME_SETTING_NAMES)
        raise CommandError(f"unknown setting {_shown(name)}; settable: {known}")
    text = _decode(payload, name)
    kind = setting_bounds(name).kind
    if kind is bool:
        return _parse_switch(name, text)
    return _parse_number(name, text, kind)


@dataclass(frozen=True)
class RoastRequest:
    """A validated `<base>/roast/set` payload: the action, and the sender's optional id."""

    action: str
    id: str | None = None


_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def parse_roast_command(payload: bytes) -> RoastRequest:
    """Validate a `<base>/roast/set` payload: `start`, `drop`, `reset`, or a correction
    (`first_crack_now`, `false_alarm`, ...; any case), as plain text or as JSON
    `{"action": "start", "id": "..."}`. An `id` (1-64 of letters, digits and `._:-`) makes
    the command idempotent: a repeat of an id already applied is ignored (QoS 1 may
    deliver a message twice)."""
    text = _decode(payload, "roast")
    command_id = None
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            raise CommandError(f"roast: not valid JSON: {_shown(text)}") from None
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            raise CommandError('roast: JSON must be an object with an "action" string')
        unknown = sorted(set(body) - {"action", "id"})
        if unknown:
            raise CommandError(f"roast: unknown JSON keys {unknown}; allowed: action, id")
        raw_id = body.get("id")
        if raw_id is not None and (not isinstance(raw_id, str) or not _ID.match(raw_id)):
            raise CommandError(f"roast: id must be 1-64 of A-Z a-z 0-9 . _ : -, got "
                               f"{_shown(str(raw_id))}")
        text, command_id = body["action"], raw_id
    action = text.strip().lower()
    if action not in ROAST_COMMANDS:
        raise CommandError(
            f"roast command must be one of {', '.join(ROAST_COMMANDS)}, got {_shown(action)}"
        )
    return RoastRequest(action, command_id)
