"""One validated config model: unknown keys and bad values are one-line errors naming the key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.config import DEFAULT_CONFIG_PATH, ConfigError, DetectorConfig, load_config, redacted


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
