"""Remote `/set` validation and persisted settings.

Rule protected: nothing a client sends on a `/set` topic reaches the detector
unless it is a finite value of the right type, in range, small and UTF-8.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from firstcrack.agent.config import RUNTIME_FIELDS, ConfigError, load_config, setting_bounds
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES
from firstcrack.agent.live.persist import SettingsStore
from firstcrack.agent.mqtt.validation import (
    MAX_PAYLOAD_BYTES,
    CommandError,
    parse_roast_command,
    parse_setting,
)

# (setting, payload, a word the error message must contain)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("threshold", b"abc", "number"),
    ("threshold", b"nan", "finite"),
    ("threshold", b"NaN", "finite"),
    ("threshold", b"inf", "finite"),
    ("threshold", b"-inf", "finite"),
    ("threshold", b"Infinity", "finite"),
    ("threshold", b"1e999", "finite"),
    ("threshold", b"1.5", "range"),
    ("threshold", b"-0.1", "range"),
    ("threshold", b"", "empty"),
    ("threshold", b"   ", "empty"),
    ("threshold", b"0.5" + b" " * MAX_PAYLOAD_BYTES, "too large"),
    ("threshold", b"9" * (MAX_PAYLOAD_BYTES + 1), "too large"),
    ("threshold", b"\xff\xfe\x00", "UTF-8"),
    ("threshold", b"0.\xe95", "UTF-8"),
    ("threshold", b'{"value": 0.5}', "number"),
    ("threshold", b"[0.5]", "number"),
    ("threshold", b"0.5 0.6", "number"),
    ("threshold", b"0,5", "number"),
    ("threshold", b"0_5", "number"),
    ("threshold", "０.５".encode(), "number"),  # full-width digits
    ("threshold", b"0.5\x00", "number"),
    ("threshold", b"0x1", "number"),
    ("threshold", b"true", "number"),
    ("min_positive", b"5.5", "whole number"),
    ("min_positive", b"5.0", "whole number"),
    ("min_positive", b"1e3", "whole number"),
    ("min_positive", b"true", "whole number"),
    ("min_positive", b"0", "range"),
    ("min_positive", b"101", "range"),
    ("min_positive", b"-3", "range"),
    ("min_positive", b"99999999999999999999999", "range"),
    ("confirm_s", b"0.5", "range"),
    ("confirm_s", b"601", "range"),
    ("confirm_s", b"nan", "finite"),
    ("confirm_s", b"20s", "number"),
    ("hop_s", b"0.1", "range"),
    ("hop_s", b"61", "range"),
    ("hop_s", b"-inf", "finite"),
    ("armed", b"maybe", "ON or OFF"),
    ("armed", b"2", "ON or OFF"),
    ("armed", b"", "empty"),
    ("armed", b"O N", "ON or OFF"),
    ("armed", b'"ON"', "ON or OFF"),
    ("armed", b"\xc3\x28", "UTF-8"),
]


@pytest.mark.parametrize(("name", "payload", "word"), MALFORMED)
def test_malformed_setting_is_rejected_with_a_reason(name: str, payload: bytes, word: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_setting(name, payload)
    assert word.lower() in str(info.value).lower()
    assert name in str(info.value)


def test_the_malformed_table_is_broad() -> None:
    assert len(MALFORMED) >= 30
    assert {name for name, _, _ in MALFORMED} == {
        "threshold",
        "min_positive",
        "confirm_s",
        "hop_s",
        "armed",
    }


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("threshold", b"0.75", 0.75),
        ("threshold", b"0", 0.0),
        ("threshold", b"1", 1.0),
        ("threshold", b" 0.5\n", 0.5),
        ("threshold", b".5", 0.5),
        ("threshold", b"5e-1", 0.5),
        ("min_positive", b"7", 7),
        ("min_positive", b"1", 1),
        ("min_positive", b"100", 100),
        ("confirm_s", b"30", 30.0),
        ("confirm_s", b"1", 1.0),
        ("hop_s", b"0.5", 0.5),
        ("hop_s", b"60", 60.0),
        ("armed", b"ON", True),
        ("armed", b"off", False),
        ("armed", b"True", True),
        ("armed", b"false", False),
        ("armed", b"1", True),
        ("armed", b"0", False),
    ],
)
def test_valid_setting_is_parsed_to_its_type(name: str, payload: bytes, expected: object) -> None:
    value = parse_setting(name, payload)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, float):
        assert math.isfinite(value)


def test_unknown_setting_name_is_rejected() -> None:
    with pytest.raises(CommandError, match="unknown setting"):
        parse_setting("window_s", b"10")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"start", "start"), (b"DROP", "drop"), (b" reset\n", "reset")],
)
def test_roast_commands(payload: bytes, expected: str) -> None:
    assert parse_roast_command(payload).action == expected


@pytest.mark.parametrize("payload", [b"", b"begin", b"start now", b"\xff", b"s" * 100])
def test_bad_roast_command_is_rejected(payload: bytes) -> None:
    with pytest.raises(CommandError, match="roast"):
        parse_roast_command(payload)


def test_settings_store_round_trip(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "state")
    assert store.load() == {}
    store.save({"threshold": 0.7, "armed": False, "min_positive": 4})
    assert SettingsStore(tmp_path / "state").load() == {
        "threshold": 0.7,
        "armed": False,
        "min_positive": 4,
    }
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["settings.json"]


def test_settings_store_ignores_a_corrupt_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "settings.json").write_text('{"threshold": 0.7')
    with caplog.at_level(logging.WARNING, logger="firstcrack.persist"):
        assert SettingsStore(tmp_path).load() == {}
    assert "corrupt" in caplog.text
    (tmp_path / "settings.json").write_text("[1, 2]")
    assert SettingsStore(tmp_path).load() == {}


def test_settings_store_refuses_non_finite_values(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path)
    store.save({"threshold": 0.6})
    with pytest.raises(ValueError):
        store.save({"threshold": float("nan")})
    assert json.loads((tmp_path / "settings.json").read_text()) == {"threshold": 0.6}


# --- /set accepts exactly what the config accepts ---------------------------------------


def _near(bound: float, kind: type) -> list[float]:
    """Values on, just inside and just outside a bound."""
    if kind is int:
        return [bound - 1, bound, bound + 1]
    return [bound - 1.0, bound - 1e-6, bound, bound + 1e-6, bound + 1.0]


def _probe_values(name: str) -> list[float]:
    """Every bound of the setting's config field, its neighbours, and some far values."""
    bounds = setting_bounds(name)
    limits = [b for b in (bounds.ge, bounds.gt, bounds.le, bounds.lt) if b is not None]
    values = [v for b in limits for v in _near(b, bounds.kind)]
    values += [0, 1, -1, 0.5, 1e6, -1e6, 600, 601, 60, 61, 100, 101]
    if bounds.kind is int:
        values = [v for v in values if float(v).is_integer()]
    return sorted({bounds.kind(v) for v in values})


def _config_verdict(name: str, value: object) -> tuple[bool, object]:
    """(accepted, value) as agent.yaml would take it (`detector:`, or `recording:`)."""
    section, key = RUNTIME_FIELDS[name].split(".")
    try:
        config = load_config(None, environ={}, overrides={section: {key: value}})
    except ConfigError:
        return False, None
    return True, getattr(getattr(config, section), key)


def _set_verdict(name: str, payload: bytes) -> tuple[bool, object]:
    try:
        return True, parse_setting(name, payload)
    except CommandError:
        return False, None


AGREEMENT = [
    (name, value)
    for name in RUNTIME_SETTING_NAMES
    if name not in ("armed", "recording")
    for value in _probe_values(name)
] + [(switch, value) for switch in ("armed", "recording") for value in (True, False, 2, -1)]


@pytest.mark.parametrize(("name", "value"), AGREEMENT)
def test_set_and_config_agree_on_every_bound(name: str, value: float | bool) -> None:
    """The range a `/set` accepts is the config's, value for value, around every bound."""
    if isinstance(value, bool):
        payload = b"ON" if value else b"OFF"
    else:
        payload = repr(value).encode()  # 1e-06 style exponents are in the /set grammar
    assert _set_verdict(name, payload) == _config_verdict(name, value), payload


def test_the_agreement_table_covers_every_runtime_setting() -> None:
    assert {name for name, _ in AGREEMENT} == set(RUNTIME_SETTING_NAMES)
    for name in RUNTIME_SETTING_NAMES:
        verdicts = {_config_verdict(name, v)[0] for n, v in AGREEMENT if n == name}
        assert verdicts == {True, False}, name  # each setting is probed on both sides


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("confirm_s", b"0", "confirm_s must be a number at least 1 and at most 600, got '0' "
         "(out of range)"),
        ("threshold", b"1.5", "threshold must be a number at least 0 and at most 1, got '1.5' "
         "(out of range)"),
        ("min_positive", b"0", "min_positive must be a whole number at least 1 and at most 100, "
         "got '0' (out of range)"),
        ("hop_s", b"x", "hop_s must be a number at least 0.5 and at most 60, got 'x'"),
        ("hop_s", b"nan", "hop_s must be a finite number (a number at least 0.5 and at most 60), "
         "got 'nan'"),
    ],
)
def test_a_rejection_states_the_allowed_range(name: str, payload: bytes, message: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_setting(name, payload)
    assert str(info.value) == message


@pytest.mark.parametrize(("payload", "action", "command_id"), [
    (b'{"action": "start", "id": "a1"}', "start", "a1"),
    (b'{"action": "First_Crack_Now"}', "first_crack_now", None),
    (b" drop ", "drop", None),
])
def test_roast_commands_as_json_carry_an_optional_id(payload: bytes, action: str,
                                                     command_id: str | None) -> None:
    request = parse_roast_command(payload)
    assert (request.action, request.id) == (action, command_id)


@pytest.mark.parametrize(("payload", "why"), [
    (b'{"action": "start", "id": "has space"}', "id must be"),
    (b'{"action": "start", "when": 3}', "unknown JSON keys"),
    (b'{"id": "x"}', "action"),
    (b"{not json", "not valid JSON"),
])
def test_bad_json_roast_commands_say_what_is_wrong(payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=why):
        parse_roast_command(payload)
