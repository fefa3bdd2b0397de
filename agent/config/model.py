"""`AgentConfig`: the whole configuration, one section per key of agent.yaml."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from agent.config.detector import DetectorConfig
from agent.config.errors import ConfigError, describe
from agent.config.sections import (
    AGENT_ID_RE,
    ArtisanConfig,
    AudioConfig,
    ControllerConfig,
    MqttConfig,
    RecordingConfig,
    RoasterConfig,
    Section,
)
from agent.core.settings import DetectorSettings

PUBLISHED_MODEL = "syamaner/coffee-first-crack-detection"


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

    def to_settings(self) -> DetectorSettings:
        """The runtime settings at start-up: the detector's, and the recording switch."""
        return dataclasses.replace(self.detector.to_settings(), recording=self.recording.enabled)

    def with_detector(self, **changes: Any) -> AgentConfig:
        """A copy with some `detector` keys changed, validated as the file would be.

        Raises ConfigError naming `detector.<key>` (evaluate and bench variants,
        persisted `/set` values checked at start-up).
        """
        try:
            detector = DetectorConfig.model_validate({**self.detector.model_dump(), **changes})
        except ValidationError as exc:
            message, keys = describe(exc, prefix=("detector",))
            raise ConfigError(f"invalid configuration: {message}", keys) from None
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
