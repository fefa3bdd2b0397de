"""`AgentConfig`: the whole configuration, one section per key of agent.yaml."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from firstcrack.agent.config.detector import DetectorConfig
from firstcrack.agent.config.errors import ConfigError, describe
from firstcrack.agent.config.sections import (
    AGENT_ID_RE,
    ArtisanConfig,
    AudioConfig,
    ControllerConfig,
    DashboardConfig,
    MqttConfig,
    RecordingConfig,
    RoasterConfig,
    Section,
)
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.models.contracts import PUBLISHED_MODEL
from firstcrack.models.inference.profile import PROFILE_KEYS, DetectionProfile


@dataclasses.dataclass(frozen=True)
class ProfileInForce:
    """Which detection profile a config runs with, and which of its keys the user overrode."""

    profile: DetectionProfile
    overridden: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """JSON for `state`, `analyze --json` and `doctor`."""
        return {"source": self.profile.source, "overridden": list(self.overridden),
                **self.profile.settings()}

    def summary(self) -> str:
        """One line: `model profile (threshold overridden by the config)`."""
        text = f"{self.profile.source} profile"
        if self.overridden:
            text += f" ({', '.join(self.overridden)} set by the user)"
        return text


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "firstcrack"


class AgentConfig(Section):
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
    recording: RecordingConfig = RecordingConfig()
    dashboard: DashboardConfig = DashboardConfig()
    roasters: list[RoasterConfig] = Field(default_factory=list, max_length=16)
    _profile: ProfileInForce | None = PrivateAttr(None)

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

    def to_settings(self) -> RuntimeSettings:
        """The runtime settings at start-up: the detector's, and the recording switch."""
        return dataclasses.replace(self.detector.to_settings(), recording=self.recording.enabled)

    def with_detector(self, **changes: Any) -> AgentConfig:
        """A copy with some `detector` keys changed, validated as the file would be.

        Keys the user did not set stay unset, so a model's detection profile
        (`with_profile`) can still fill them. Raises ConfigError naming
        `detector.<key>` (evaluate and bench variants, persisted `/set` values
        checked at start-up).
        """
        try:
            unset_kept = self.detector.model_dump(exclude_unset=True)  # defaults stay unset
            detector = DetectorConfig.model_validate({**unset_kept, **changes})
        except ValidationError as exc:
            message, keys = describe(exc, prefix=("detector",))
            raise ConfigError(f"invalid configuration: {message}", keys) from None
        return self.model_copy(update={"detector": detector})

    def with_profile(self, profile: DetectionProfile | None) -> AgentConfig:
        """A copy whose `detector` keys that the user left unset come from `profile`.

        A key set in the file, the environment or a flag is kept, key by key. None (a
        scorer with no profile, e.g. a test fake) changes nothing. Applying a second
        profile to a config that already has one changes nothing either: the first one
        (the model's, applied where the chain is built) is the one in force.
        """
        if profile is None or self._profile is not None:
            return self
        user = sorted(set(PROFILE_KEYS) & self.detector.model_fields_set)
        fill = {k: v for k, v in profile.settings().items() if k not in user}
        applied = self.with_detector(**fill) if fill else self.model_copy()
        applied._profile = ProfileInForce(profile, tuple(user))
        return applied

    def profile_in_force(self) -> ProfileInForce | None:
        """The model profile applied by `with_profile`, and the keys the user overrode."""
        return self._profile

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
