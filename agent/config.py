"""The one validated configuration model (README, "Configuration").

`load_config()` reads `config/agent.yaml` (or a given file), applies
`FIRSTCRACK_<KEY>` environment overrides (`__` between nested levels), and
validates everything in one pydantic model with `extra="forbid"`. Every
failure becomes one `ConfigError` whose message names the key path, so a typo
is a one-line error, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.core.cadence import CadenceConfig
from agent.core.settings import DetectorSettings

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "agent.yaml"
ENV_PREFIX = "FIRSTCRACK_"
PUBLISHED_MODEL = "syamaner/coffee-first-crack-detection"
_DEFAULTS = DetectorSettings()
_CADENCE = CadenceConfig()
AGENT_ID_RE = r"^[a-z0-9_-]+$"


class ConfigError(Exception):
    """A configuration problem; the message names the offending key and value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TlsConfig(_Section):
    """TLS towards the broker. Paths are PEM files."""

    enabled: bool = False
    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = Field(False, description="skip hostname verification (testing only)")


class MqttConfig(_Section):
    """Broker connection and publishing options."""

    enabled: bool = True
    host: str = Field("localhost", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(None, min_length=1, max_length=128)
    keepalive_s: int = Field(30, ge=5, le=3600)
    tls: TlsConfig = TlsConfig()
    discovery: bool = True
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+$")
    outbox_max: int = Field(1000, ge=10, le=1_000_000)
    # Reconnect backoff (seconds, exponential with jitter). The cap bounds how late
    # waiting events arrive after the broker returns: 3 s keeps it within 5 s.
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(3.0, gt=0, le=3600)
    # At end of file or on SIGTERM, how long to keep trying to deliver the outbox.
    flush_grace_s: float = Field(10.0, ge=0, le=600)
    probability_expire_after_s: int = Field(60, ge=1, le=86400)


class AudioConfig(_Section):
    """Microphone capture. `device` is a name substring or an index; None is the default input."""

    device: str | int | None = None
    sample_rate: int | None = Field(None, ge=8000, le=384000)
    channels: int | None = Field(None, ge=1, le=64)
    block_s: float = Field(0.1, gt=0.005, le=1.0)
    queue_s: float = Field(5.0, ge=0.5, le=120.0)


class DetectorConfig(_Section):
    """Detector parameters (README, "Detector"); the first five are runtime-settable."""

    threshold: float = Field(_DEFAULTS.threshold, ge=0.0, le=1.0)
    min_positive: int = Field(_DEFAULTS.min_positive, ge=1, le=100)
    confirm_s: float = Field(_DEFAULTS.confirm_s, gt=0, le=600)
    hop_s: float = Field(_DEFAULTS.hop_s, ge=0.5, le=60)
    window_s: float = Field(10.0, ge=1.0, le=30.0)
    min_roast_s: float = Field(_DEFAULTS.min_roast_s, ge=0, le=3600)
    silence_dbfs: float = Field(_DEFAULTS.silence_dbfs, ge=-160, le=0)
    auto_arm: bool = True
    # How positives confirm first crack (agent/core/detector.py): a leaky evidence count, or k-of-n.
    rule: Literal["evidence", "k_of_n"] = _DEFAULTS.rule
    # Adaptive cadence (agent/core/cadence.py): infer every idle_hop_s while nothing suggests
    # first crack; at hop_s (or dense_hop_s) once p rises or the pop rate does.
    cadence: Literal["fixed", "adaptive"] = "adaptive"
    idle_hop_s: float = Field(15.0, ge=1.0, le=120.0)
    dense_hop_s: float | None = Field(None, ge=0.5, le=60.0)
    cadence_rise_fraction: float = Field(0.5, gt=0.0, le=1.0)
    cadence_pops_per_min: float = Field(_CADENCE.pops_per_min, ge=0.0, le=100000.0)  # 0: off
    cadence_hold_s: float = Field(30.0, ge=0.0, le=600.0)

    def to_cadence(self) -> Any:
        """The `CadenceConfig` these settings describe."""
        from agent.core.cadence import CadenceConfig

        return CadenceConfig(
            mode=self.cadence,
            idle_hop_s=self.idle_hop_s,
            dense_hop_s=self.dense_hop_s,
            rise_fraction=self.cadence_rise_fraction,
            pops_per_min=self.cadence_pops_per_min,
            hold_s=self.cadence_hold_s,
        )

    def to_settings(self) -> DetectorSettings:
        return DetectorSettings(
            threshold=self.threshold,
            min_positive=self.min_positive,
            confirm_s=self.confirm_s,
            hop_s=self.hop_s,
            armed=self.auto_arm,
            min_roast_s=self.min_roast_s,
            silence_dbfs=self.silence_dbfs,
            rule=self.rule,
        )


_NODE = r"^[A-Za-z0-9_.-]+$"


class ArtisanConfig(_Section):
    """The Artisan WebSocket bridge (agent/artisan/bridge.py): Artisan connects to ws://host:port/path.

    Node names are the keys of the `data` object Artisan reads its channels from;
    the commands are what Artisan's CHARGE/DROP button actions send to start/end the roast.
    """

    enabled: bool = False
    host: str = Field("0.0.0.0", min_length=1, max_length=255)
    port: int = Field(8765, ge=1, le=65535)
    path: str = Field("/WebSocket", pattern=r"^/[A-Za-z0-9._~/-]*$", max_length=200)
    probability_node: str = Field("fc_prob", pattern=_NODE, max_length=64)
    flag_node: str = Field("fc", pattern=_NODE, max_length=64)
    charge_command: str = Field("startRoasting", pattern=_NODE, max_length=64)
    drop_command: str = Field("endRoasting", pattern=_NODE, max_length=64)

    @model_validator(mode="after")
    def _distinct(self) -> ArtisanConfig:
        if self.probability_node == self.flag_node:
            raise ValueError(f"probability_node and flag_node are both {self.flag_node!r}")
        if self.charge_command == self.drop_command:
            raise ValueError(f"charge_command and drop_command are both {self.drop_command!r}")
        return self


def _check_topic_filter(topic: str) -> str:
    """An MQTT subscription filter: `+` and `#` only as whole levels, `#` only last."""
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if level in ("+", "#"):
            if level == "#" and i != len(levels) - 1:
                raise ValueError(f"'#' must be the last level in topic {topic!r}")
        elif "+" in level or "#" in level:
            raise ValueError(f"wildcards must fill a whole level in topic {topic!r}")
    if "\x00" in topic:
        raise ValueError("topic contains a NUL character")
    return topic


class TriggerConfig(_Section):
    """One controller message that means CHARGE or DROP (agent/mqtt/controller.py).

    topic: an MQTT subscription filter (wildcards `+`/`#` allowed).
    payload: the value that triggers, compared case-insensitively after trimming whitespace:
        the whole payload, or with `json_field` set, that field of a JSON object payload.
    """

    topic: str = Field(min_length=1, max_length=256)
    payload: str = Field(min_length=1, max_length=256)
    json_field: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("topic")
    @classmethod
    def _topic_filter(cls, value: str) -> str:
        return _check_topic_filter(value)


class ControllerConfig(_Section):
    """The roast lifecycle from a roaster controller over MQTT, and first-crack end detection.

    end_quiet_s: seconds without a positive window (after first crack) that mean it has ended;
        the `first_crack_end` event then goes to MQTT and to Artisan (FCe).
    end_pops_per_min: a pops-per-minute rate (when telemetry has one) that also counts as
        cracking; None: only the probability counts.
    """

    charge: TriggerConfig | None = None
    drop: TriggerConfig | None = None
    end_quiet_s: float = Field(30.0, ge=5.0, le=600.0)
    end_pops_per_min: float | None = Field(None, gt=0, le=10000)

    @model_validator(mode="after")
    def _distinct(self) -> ControllerConfig:
        c, d = self.charge, self.drop
        if c is not None and d is not None:
            same = (c.topic, c.payload.strip().lower(), c.json_field) == (
                d.topic,
                d.payload.strip().lower(),
                d.json_field,
            )
            if same:
                raise ValueError("charge and drop match the same topic and payload")
        return self


class RoasterConfig(_Section):
    """One roaster of a multi-roaster agent: its own detector, base topic and HA device.

    source: as `run --source` (`mic`, `mic:DEVICE`, `file:PATH`, `sim:SEED`).
    channel: 0-based input channel; roasters naming the same microphone share one
        capture and each takes its channel.
    artisan_port: this roaster's Artisan WebSocket port (when `artisan.enabled`).
    """

    agent_id: str = Field(pattern=AGENT_ID_RE, max_length=64)
    source: str = Field("mic", min_length=1, max_length=1024)
    channel: int | None = Field(None, ge=0, le=63)
    artisan_port: int | None = Field(None, ge=1, le=65535)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "firstcrack"


class AgentConfig(_Section):
    """The whole agent configuration."""

    agent_id: str = Field("roaster1", pattern=AGENT_ID_RE, max_length=64)
    state_dir: Path = Field(default_factory=_default_state_dir)
    model: str = Field(PUBLISHED_MODEL, min_length=1)
    backend: Literal["auto", "onnx", "torch"] = "auto"
    threads: int | None = Field(None, ge=1, le=256)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    audio: AudioConfig = AudioConfig()
    detector: DetectorConfig = DetectorConfig()
    mqtt: MqttConfig = MqttConfig()
    artisan: ArtisanConfig = ArtisanConfig()
    controller: ControllerConfig = ControllerConfig()
    roasters: list[RoasterConfig] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _distinct_roasters(self) -> AgentConfig:
        ids = [r.agent_id for r in self.roasters]
        if len(set(ids)) != len(ids):
            raise ValueError(f"roasters: agent_id values must be unique, got {ids}")
        inputs = [(r.source.strip(), r.channel) for r in self.roasters]
        if len(set(inputs)) != len(inputs):
            raise ValueError("roasters: two roasters listen to the same source and channel")
        if self.artisan.enabled and len(self.roasters) > 1:
            ports = [r.artisan_port or self.artisan.port for r in self.roasters]
            if len(set(ports)) != len(ports):
                raise ValueError("roasters: give each roaster its own artisan_port")
        return self

    def with_detector(self, **changes: Any) -> AgentConfig:
        """A copy with some `detector` keys changed, validated (evaluate and bench variants)."""
        detector = DetectorConfig.model_validate({**self.detector.model_dump(), **changes})
        return self.model_copy(update={"detector": detector})

    def for_roaster(self, roaster: RoasterConfig) -> AgentConfig:
        """This config as seen by one roaster (its agent_id and Artisan port)."""
        artisan = self.artisan.model_copy(
            update={"port": roaster.artisan_port or self.artisan.port}
        )
        return self.model_copy(
            update={"agent_id": roaster.agent_id, "artisan": artisan, "roasters": []}
        )

    @field_validator("model")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from `FIRSTCRACK_A__B=value` variables; values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "FIRSTCRACK_CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another FIRSTCRACK_ variable")
        node[path[-1]] = _parse_scalar(raw)
    return tree


def _parse_scalar(raw: str) -> Any:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, str | int | float | bool) or value is None else raw


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        shown = item.get("input")
        value = "" if isinstance(shown, dict) or item["type"] == "missing" else f" (got {shown!r})"
        if "password" in key:
            value = ""
        lines.append(f"{key}: {message}{value}")
    return "; ".join(lines)


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Load, merge (file < environment < overrides) and validate the configuration.

    With `path=None` the default `config/agent.yaml` is used when it exists; a
    path that was asked for explicitly must exist.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("FIRSTCRACK_CONFIG"):
        path = environ["FIRSTCRACK_CONFIG"]
    data: dict[str, Any] = {}
    if path is not None or DEFAULT_CONFIG_PATH.exists():
        file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
        data = _read_yaml(file)
    data = _merge(data, _env_overrides(environ))
    if overrides:
        data = _merge(data, overrides)
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from None


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {file} is not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {file}: top level must be a mapping of keys")
    return loaded


def redacted(config: AgentConfig) -> dict[str, Any]:
    """The config as a dict for logging, with secrets masked."""
    data = config.model_dump(mode="json")
    if data["mqtt"].get("password") is not None:
        data["mqtt"]["password"] = "***"
    return data
