"""The one validated configuration model (README, "Configuration").

A package along two seams: the models (`sections`, `detector`, `model`), which
are the single source of every key's type and range, and `loading`, which
reads YAML and the environment and turns pydantic's errors into one-line
`ConfigError`s naming the key. `bounds` lets other modules read a field's
limits instead of keeping their own copies (agent/mqtt/validation.py).
"""

from __future__ import annotations

from firstcrack.agent.config.bounds import FieldBounds, field_adapter, field_bounds
from firstcrack.agent.config.detector import (
    RUNTIME_FIELDS,
    DetectorConfig,
    check_setting,
    setting_bounds,
)
from firstcrack.agent.config.errors import ConfigError, KeyedValueError, describe
from firstcrack.agent.config.loading import (
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    load_config,
    redacted,
)
from firstcrack.agent.config.model import PUBLISHED_MODEL, AgentConfig
from firstcrack.agent.config.sections import (
    AGENT_ID_RE,
    ArtisanConfig,
    AudioConfig,
    ControllerConfig,
    DashboardConfig,
    MqttConfig,
    RecordingConfig,
    RoasterConfig,
    TlsConfig,
    TriggerConfig,
)

__all__ = [
    "AGENT_ID_RE",
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "PUBLISHED_MODEL",
    "RUNTIME_FIELDS",
    "AgentConfig",
    "ArtisanConfig",
    "AudioConfig",
    "ConfigError",
    "ControllerConfig",
    "DashboardConfig",
    "DetectorConfig",
    "FieldBounds",
    "KeyedValueError",
    "MqttConfig",
    "RecordingConfig",
    "RoasterConfig",
    "TlsConfig",
    "TriggerConfig",
    "check_setting",
    "describe",
    "field_adapter",
    "field_bounds",
    "load_config",
    "redacted",
    "setting_bounds",
]
