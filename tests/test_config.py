"""One validated config model: unknown keys and bad values are one-line errors naming the key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from firstcrack.agent.config import (
    DEFAULT_CONFIG_PATH,
    AgentConfig,
    ConfigError,
    DetectorConfig,
    load_config,
    redacted,
)
from firstcrack.agent.core.cadence import AdaptiveCadence


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_documented_defaults() -> None:
    config = load_config(DEFAULT_CONFIG_PATH, environ={})
    assert config.agent_id == "roaster1"
    assert config.model == "syamaner/coffee-first-crack-detection"
    assert (config.mqtt.host, config.mqtt.port) == ("localhost", 1883)
    # The shipped file documents the built-in defaults; it must not drift from them.
    assert config.detector == DetectorConfig()
    assert (config.detector.window_s, config.detector.hop_s) == (10, 3)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("agent_id: Roaster 1\n", "agent_id"),
        ("mqtt:\n  prot: 1883\n", "mqtt.prot"),
        ("mqtt:\n  port: 70000\n", "mqtt.port"),
        ("detector:\n  threshold: 1.5\n", "detector.threshold"),
        ("detector:\n  min_positive: 0\n", "detector.min_positive"),
        ("detector:\n  hop_s: .nan\n", "detector.hop_s"),
        ("detector:\n  confirm_s: 0.5\n", "detector.confirm_s"),
        ("detector:\n  idle_hop_s: 500\n", "detector.idle_hop_s"),
        ("detector:\n  idle_hop_s: .inf\n", "detector.idle_hop_s"),
        ("detector:\n  dense_hop_s: 0.1\n", "detector.dense_hop_s"),
        ("detector:\n  dense_hop_s: 30\n  idle_hop_s: 10\n", "detector.dense_hop_s"),
        ("detector:\n  cadence_rise_fraction: 0\n", "detector.cadence_rise_fraction"),
        ("detector:\n  cadence: sometimes\n", "detector.cadence"),
        ("mqtt:\n  tls:\n    ca: x\n", "mqtt.tls.ca"),
        ("backend: cuda\n", "backend"),
        ("surprise: 1\n", "surprise"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    message = str(info.value)
    assert message.startswith(f"invalid configuration: {key}:"), message
    assert "\n" not in message


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    env = {
        "FIRSTCRACK_MQTT__HOST": "broker.lan",
        "FIRSTCRACK_MQTT__PORT": "8883",
        "FIRSTCRACK_DETECTOR__THRESHOLD": "0.75",
        "FIRSTCRACK_AGENT_ID": "roaster2",
        "FIRSTCRACK_MODEL": "demo",
    }
    config = load_config(write(tmp_path, "mqtt:\n  host: other\n"), environ=env)
    assert (config.mqtt.host, config.mqtt.port) == ("broker.lan", 8883)
    assert config.detector.threshold == 0.75
    assert (config.agent_id, config.model) == ("roaster2", "demo")


def test_environment_typo_is_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.hots: unknown key"):
        load_config(DEFAULT_CONFIG_PATH, environ={"FIRSTCRACK_MQTT__HOTS": "x"})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_config(write(tmp_path, "a: 1\n  b: [\n"), environ={})
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"), environ={})


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    """A Python object tag must not construct anything."""
    with pytest.raises(ConfigError):
        load_config(
            write(tmp_path, "agent_id: !!python/object/apply:os.system ['true']\n"), environ={}
        )


def test_secrets_never_appear_in_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        write(tmp_path, "mqtt:\n  username: u\n"), environ={"FIRSTCRACK_MQTT__PASSWORD": "hunter2"}
    )
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "hunter2"
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("config: %s %r %s", config, config, redacted(config))
    assert "hunter2" not in caplog.text
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "mqtt:\n  password: [hunter2]\n"), environ={})
    assert "hunter2" not in str(info.value)


def test_default_config_path_is_the_repository_file() -> None:
    """agent/config is a package now; the default still is <repo>/config/agent.yaml."""
    assert DEFAULT_CONFIG_PATH == Path(__file__).resolve().parent.parent / "config" / "agent.yaml"
    assert DEFAULT_CONFIG_PATH.is_file()


def test_a_bad_cadence_combination_names_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "detector:\n  dense_hop_s: 30\n  idle_hop_s: 10\n"),
                    environ={})
    assert str(info.value) == (
        "invalid configuration: detector.dense_hop_s: must be at most idle_hop_s (10 s), got 30"
    )
    assert info.value.keys == ("detector.dense_hop_s",)


@pytest.mark.parametrize(
    "detector",
    [
        {"idle_hop_s": 90},
        {"idle_hop_s": 120, "dense_hop_s": 60, "hop_s": 60},
        {"idle_hop_s": 1, "dense_hop_s": 0.5, "hop_s": 0.5},
        {"idle_hop_s": 1, "hop_s": 60},  # a hop longer than the idle hop: no thinning
        {"cadence_rise_fraction": 1e-9, "cadence_pops_per_min": 0, "cadence_hold_s": 0},
    ],
)
def test_what_the_config_accepts_the_cadence_accepts(detector: dict[str, float]) -> None:
    """The config is the one place with cadence limits: a config-valid cadence always builds
    (agent/core/cadence.py has no range checks of its own to disagree with)."""
    config = load_config(None, environ={}, overrides={"detector": detector})
    cadence = AdaptiveCadence(config.detector.to_cadence())
    hop = cadence.hop_s(0.0, config.detector.hop_s)
    assert hop >= config.detector.hop_s and hop >= (config.detector.dense_hop_s or 0)
    assert cadence.history_s() == 2 * config.detector.idle_hop_s + 60


def test_with_detector_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^invalid configuration: detector\.hop_s: ") as info:
        AgentConfig().with_detector(hop_s=0.1)
    assert info.value.keys == ("detector.hop_s",)
    assert isinstance(info.value, ValueError)  # callers catch it with pydantic's errors


def test_redacted_is_the_config_as_json_with_the_password_masked() -> None:
    config = load_config(None, environ={"FIRSTCRACK_MQTT__PASSWORD": "hunter2"})
    data = redacted(config)
    assert data["mqtt"]["password"] == "***"
    assert data["detector"] == config.detector.model_dump(mode="json")
    assert redacted(load_config(None, environ={}))["mqtt"]["password"] is None
