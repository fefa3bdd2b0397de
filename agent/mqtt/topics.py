"""Topic names for one agent (README, "MQTT"), built only from the validated agent_id.

Incoming topic names are looked up in the fixed tables built here; nothing
received from the broker is ever turned into a topic we publish to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES


@dataclass(frozen=True)
class Topics:
    """All topics of one agent.

    agent_id: validated `[a-z0-9_-]+` (the config model enforces it).
    discovery_prefix: Home Assistant discovery prefix, `homeassistant` by default.
    """

    agent_id: str
    discovery_prefix: str = "homeassistant"
    base: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", f"firstcrack/{self.agent_id}")

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def error(self) -> str:
        return f"{self.base}/error"

    @property
    def roast_set(self) -> str:
        return f"{self.base}/roast/set"

    @property
    def set_wildcard(self) -> str:
        """Matches every `<base>/<name>/set`, `roast/set` included."""
        return f"{self.base}/+/set"

    @property
    def session(self) -> str:
        """The agent's own marker topic after a resumed session (agent/mqtt/session.py)."""
        return f"{self.base}/session"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic."""
        return f"{self.discovery_prefix}/status"

    def setting_set(self, name: str) -> str:
        return f"{self.base}/{name}/set"

    def setting_state(self, name: str) -> str:
        return f"{self.base}/{name}/state"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.agent_id}/{object_id}/config"

    def setting_for_set_topic(self, topic: str) -> str | None:
        """The runtime setting a `/set` topic addresses, or None when it names none."""
        for name in RUNTIME_SETTING_NAMES:
            if topic == self.setting_set(name):
                return name
        return None

    def is_set_topic(self, topic: str) -> bool:
        """Whether `topic` has the `<base>/<something>/set` shape (known name or not)."""
        prefix = self.base + "/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return False
        middle = topic[len(prefix) : -len("/set")]
        return bool(middle) and "/" not in middle
