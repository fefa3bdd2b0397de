"""The configuration sections other than `detector` (README, "Configuration").

Every section forbids unknown keys and non-finite numbers, so a typo or a
`.nan` is an error naming its key rather than a silently ignored value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

AGENT_ID_RE = r"^[a-z0-9_-]+$"
_NODE = r"^[A-Za-z0-9_.-]+$"


class Section(BaseModel):
    """Base of every config section: unknown keys, NaN and infinity are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TlsConfig(Section):
    """TLS towards the broker. Paths are PEM files."""

    enabled: bool = False
    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = Field(False, description="skip hostname verification (testing only)")


class MqttConfig(Section):
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
    # Longer than the ear gate's idle check (60 s), between which an AST sends no telemetry.
    probability_expire_after_s: int = Field(150, ge=1, le=86400)
    # "auto": MQTT 5, falling back to 3.1.1 for a broker that refuses it or does not answer.
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    # The broker keeps the agent's session (subscriptions and the QoS 1 commands sent to
    # them) this long after the agent disconnects (MQTT 5); 0 = a clean session each time.
    session_expiry_s: int = Field(300, ge=0, le=7 * 86400)
    # A command the broker held while the agent was away is refused when older than this.
    command_max_age_s: float = Field(60.0, gt=0, le=86400)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_text(cls, value: Any) -> Any:
        """YAML reads `protocol: 5` as a number."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class AudioConfig(Section):
    """Microphone capture. `device` is a name substring or an index; None is the default input."""

    device: str | int | None = None
    sample_rate: int | None = Field(None, ge=8000, le=384000)
    channels: int | None = Field(None, ge=1, le=64)
    block_s: float = Field(0.1, gt=0.005, le=1.0)
    queue_s: float = Field(5.0, ge=0.5, le=120.0)


class ArtisanConfig(Section):
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
    # The user's corrections (docs/RECORDINGS.md): FCs pressed by hand, and a false alarm.
    first_crack_command: str = Field("firstCrack", pattern=_NODE, max_length=64)
    false_alarm_command: str = Field("falseAlarm", pattern=_NODE, max_length=64)

    @model_validator(mode="after")
    def _distinct(self) -> ArtisanConfig:
        if self.probability_node == self.flag_node:
            raise ValueError(f"probability_node and flag_node are both {self.flag_node!r}")
        names = ("charge_command", "drop_command", "first_crack_command", "false_alarm_command")
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                if getattr(self, first) == getattr(self, second):
                    raise ValueError(f"{first} and {second} are both {getattr(self, first)!r}")
        return self

    def roast_commands(self) -> dict[str, str]:
        """Artisan command name -> roast action (`roast/set` vocabulary)."""
        return {
            self.charge_command: "start",
            self.drop_command: "drop",
            self.first_crack_command: "first_crack_now",
            self.false_alarm_command: "false_alarm",
        }


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


class TriggerConfig(Section):
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


class ControllerConfig(Section):
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


class RoasterConfig(Section):
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


class RecordingConfig(Section):
    """Roast recording for learning from your own roaster (docs/RECORDINGS.md); off by default.

    `enabled` is the start value of the `recording` runtime setting (Home
    Assistant's "Recording" switch, `<base>/recording/set`).
    """

    enabled: bool = False
    dir: Path | None = Field(None, description="default: <state_dir>/recordings")
    max_gb: float = Field(2.0, gt=0, le=100_000)
    min_free_gb: float = Field(1.0, ge=0, le=100_000)
    max_roast_min: float = Field(45.0, ge=1, le=600)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class DashboardConfig(Section):
    """The live dashboard the agent serves (agent/dashboard/, README "Dashboard").

    Bound to loopback (the default), writes need no token: only this machine reaches it.
    Bound to anything else, `token` is required (the agent refuses to start without it)
    and every write must carry it. `port` 0 takes any free port (tests, several agents).
    """

    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1, max_length=255)
    port: int = Field(8787, ge=0, le=65535)
    token: str | None = Field(None, min_length=16, max_length=256)
    ingress_from: str | None = Field(None, min_length=1, max_length=64)
    """The address of Home Assistant's ingress proxy (172.30.32.2 in an add-on): its
    requests, which Home Assistant authenticated, may write without the token."""

    @model_validator(mode="after")
    def _token_off_loopback(self) -> DashboardConfig:
        if self.enabled and self.host not in LOOPBACK_HOSTS and self.token is None:
            raise ValueError(
                f"host {self.host} is reachable from other machines: set dashboard.token "
                "(at least 16 characters) so that only you can press its buttons, or bind "
                "dashboard.host to 127.0.0.1")
        return self

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS
