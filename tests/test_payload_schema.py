"""The declared payload keys (agent/core/payload_schema.py): held in place, honoured by
the runtime, and the one source of Home Assistant's sensors and docs/PAYLOADS.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.payload_schema import (
    FIELDS,
    PayloadSchemaError,
    keys,
    problems,
    render_markdown,
)
from firstcrack.agent.core.runtime import Runtime
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.live.app import Agent, AgentParts
from firstcrack.agent.mqtt.discovery import discovery_messages
from firstcrack.agent.mqtt.topics import Topics
from firstcrack.agent.sources.base import SourceStats
from firstcrack.models.inference.profile import PUBLISHED_PROFILE
from tests.fakes import Provided, loud, score_window

ROOT = Path(__file__).resolve().parent.parent

PUBLISHED = {
    "telemetry": {
        "ts", "roast_s", "audio_s", "probability", "threshold", "dbfs", "inference_ms", "phase",
        "silent", "positive_windows", "dropped_windows", "development_ratio", "pops_per_min",
    },
    "state": {
        "phase", "first_crack", "first_crack_ts", "roast_started_ts", "development_s",
        "roast_s", "threshold", "min_positive", "confirm_s", "hop_s", "armed", "recording",
        "dropped_windows", "development_ratio", "first_crack_end_ts", "first_crack_end_roast_s",
        "user_label", "user_first_crack_ts", "crack_count", "detection_profile",
        "dropped_telemetry", "source_overruns", "source_dropped_blocks", "source_reopens",
        "recording_active", "recordings_mb", "recordings", "recording_error",
    },
}
"""Keys dashboards, automations and controllers read today: add keys, never remove these."""


class Quiet:
    name = "quiet"
    profile = PUBLISHED_PROFILE

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.full(len(windows), 0.1, np.float32)


class Stats:
    def stats(self) -> SourceStats:
        return SourceStats(overruns=0, reopens=0, dropped_blocks=0)


@pytest.mark.parametrize("topic", ["telemetry", "state"])
def test_no_published_key_was_renamed_or_removed(topic: Any) -> None:
    missing = PUBLISHED[topic] - keys(topic)
    assert not missing, f"published {topic} keys gone: {sorted(missing)}"


def test_each_key_is_declared_once_per_topic() -> None:
    seen = [(f.topic, f.key) for f in FIELDS]
    assert len(seen) == len(set(seen))


def test_an_agents_payloads_are_exactly_what_is_declared(tmp_path: Path) -> None:
    """Every provider of a whole agent (no MQTT: no `dropped_telemetry`) gives its keys."""
    config = AgentConfig.model_validate({"state_dir": str(tmp_path), "mqtt": {"enabled": False}})
    agent = Agent(AgentParts(config, Stats(), Quiet(), []), mqtt=False)
    runtime = agent.runtime
    telemetry = score_window(runtime, 10.0, loud(160000)).to_payload()
    state = runtime.snapshot().to_payload()
    assert problems("telemetry", telemetry) == []
    assert problems("state", state) == []
    # no MQTT: no `dropped_telemetry`; a model without a second-crack output: no such keys
    assert set(state) == keys("state") - {"dropped_telemetry"} - keys("state", "second_crack")
    assert set(telemetry) == keys("telemetry") - keys("telemetry", "second_crack")


def test_the_runtime_refuses_a_provider_that_breaks_its_declaration() -> None:
    runtime = Runtime(Quiet(), RuntimeSettings())
    with pytest.raises(ValueError, match="not a declared payload provider"):
        runtime.add_provider(Provided("nobody", {}))
    runtime.add_provider(Provided("mqtt", {"dropped_telemetry": 0, "renamed_key": 1}))
    with pytest.raises(PayloadSchemaError, match="renamed_key"):
        runtime.snapshot()


def test_problems_name_a_missing_a_mistyped_and_an_undeclared_key(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"state_dir": str(tmp_path), "mqtt": {"enabled": False}})
    state = Agent(AgentParts(config, Stats(), Quiet(), []), mqtt=False).runtime.snapshot(
        ).to_payload()
    del state["phase"]
    state["first_crack"] = "yes"
    state["surprise"] = 1
    assert problems("state", state) == [
        "surprise: not declared", "phase: missing", "first_crack: str, declared boolean"]


def test_home_assistant_reads_only_declared_keys_and_shows_every_declared_entity() -> None:
    topics = Topics("roaster1")
    messages = discovery_messages(topics)
    by_topic = {topics.telemetry: "telemetry", topics.state: "state"}
    for message in messages:
        topic = by_topic.get(message.config.get("state_topic", ""))
        if topic is None:
            continue
        read = set(re.findall(r"value_json\.(\w+)", message.config["value_template"]))
        assert read and read <= keys(topic), (message.object_id, read)  # type: ignore[arg-type]
    declared = {f.entity.object_id for f in FIELDS if f.entity is not None}
    assert declared <= {m.object_id for m in messages}


def test_payloads_doc_is_rendered_from_the_schema() -> None:
    """docs/PAYLOADS.md: `python -m firstcrack.agent.core.payload_schema > docs/PAYLOADS.md`."""
    assert (ROOT / "docs" / "PAYLOADS.md").read_text(encoding="utf-8") == render_markdown()
