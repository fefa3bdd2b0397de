"""The configuration's error types, and the one-line description of a validation error."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from firstcrack.models.contracts import UserError


class ConfigError(UserError, ValueError):
    """A configuration problem; the message names the offending key and value.

    `keys` holds the dotted key paths the message names (`detector.hop_s`), so a
    caller that set some keys itself (`evaluate --hop`) can say which of its own
    options was wrong. A `ValueError`, so code that validates a candidate value
    with `AgentConfig.with_detector` can catch it alongside pydantic's errors.
    """

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.keys: tuple[str, ...] = tuple(keys)


class KeyedValueError(ValueError):
    """Raised by a section's model validator about one of its own keys.

    pydantic reports a model validator's error at the section (`detector`); the
    loader appends `key` so the message names `detector.dense_hop_s` instead.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def describe(error: ValidationError, prefix: Sequence[str] = ()) -> tuple[str, list[str]]:
    """One line naming each failing key path (`detector.hop_s: ...`), and those paths.

    A section validator's `KeyedValueError` is reported at its key, not at the
    section. Passwords are never echoed.
    """
    lines, keys = [], []
    for item in error.errors():
        loc = [*prefix, *(str(p) for p in item["loc"])]
        message = item["msg"]
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, KeyedValueError):
            loc.append(cause.key)
            message = cause.message
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        key = ".".join(loc) or "(top level)"
        shown = item.get("input")
        value = "" if isinstance(shown, dict) or item["type"] == "missing" else f" (got {shown!r})"
        if "password" in key:
            value = ""
        lines.append(f"{key}: {message}{value}")
        keys.append(key)
    return "; ".join(lines), keys
