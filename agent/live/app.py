"""Assemble and run the agent: config -> source, classifier, runtime, sinks -> run -> shut down.

`Agent.run()` reads as a list of steps: start sinks, stream, shut down. SIGINT and
SIGTERM stop the source; the loop drains, the sinks publish `offline` and
flush, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, check_setting
from agent.core.commands import RestoreSettings, RoastCommand
from agent.core.settings import RUNTIME_SETTING_NAMES
from agent.core.sinks import Sink
from agent.live.chain import build_chain
from agent.live.loop import LiveLoop
from agent.mqtt.controller import ControllerLifecycle

log = logging.getLogger("firstcrack.app")


@dataclass
class AgentParts:
    """Everything the agent is built from; tests assemble their own."""

    config: AgentConfig
    source: Any
    scorer: Any
    sinks: list[Sink] = field(default_factory=list)


def restored_settings(config: AgentConfig, store: Any | None) -> RestoreSettings | None:
    """The runtime settings persisted by earlier `/set`s, as a command for the runtime.

    Each value is checked against the config's own bounds; one that no longer
    fits (an older version's range, a hand-edited file) is dropped with a warning.
    """
    if store is None:
        return None
    # Not the recording switch: at start-up the config decides whether anything is recorded
    # (README, "Recording your roasts"), so turning it off in the file always holds.
    saved = {
        k: v for k, v in store.load().items() if k in RUNTIME_SETTING_NAMES and k != "recording"
    }
    kept = {}
    for name, value in saved.items():
        try:
            check_setting(name, value)
        except (ValueError, TypeError) as exc:
            log.warning("ignoring persisted setting %s=%r that no longer fits: %s", name, value,
                        str(exc).splitlines()[0])
            continue
        kept[name] = value
    if not kept:
        return None
    log.info("restoring persisted settings: %s", kept)
    return RestoreSettings(kept)


class Agent:
    """One roaster: a source, a runtime and its sinks."""

    def __init__(
        self,
        parts: AgentParts,
        mqtt: bool = True,
        cond: threading.Condition | None = None,
    ) -> None:
        from agent.live.persist import SettingsStore

        config = parts.config
        self.config = config
        self.source = parts.source
        store = SettingsStore(Path(config.state_dir) / config.agent_id)
        self.chain = build_chain(config, parts.scorer, sinks=parts.sinks, persistence=store)
        self.runtime = self.chain.runtime
        stats = getattr(self.source, "stats", None)
        if stats is not None:  # audio health for dashboards and HA diagnostic sensors
            for key in ("overruns", "dropped_blocks", "reopens"):
                self.runtime.health_extras[f"source_{key}"] = (
                    lambda k=key: getattr(stats(), k)  # type: ignore[misc]
                )
        restore = restored_settings(config, store)
        if restore is not None:
            self.runtime.commands.submit(restore)  # applied before anything is announced
        self.controller = ControllerLifecycle(config.controller, self._roast_from("controller"))
        self.mqtt_sink = None
        if mqtt and config.mqtt.enabled:
            from agent.mqtt import MqttSink

            self.mqtt_sink = MqttSink(
                config.mqtt,
                config.agent_id,
                Path(config.state_dir) / config.agent_id,
                self.runtime,
                model_name=parts.scorer.name,
                extra_subscriptions=self.controller.subscriptions,
                on_external=self.controller.on_message if self.controller.enabled else None,
            )
            # Before the caller's sinks: an event printed as a JSON line is already durable.
            self.runtime.sinks.insert(0, self.mqtt_sink)
            self.runtime.state_extras["dropped_telemetry"] = lambda: (
                self.mqtt_sink.dropped_telemetry
            )
        elif self.controller.enabled:
            log.warning("controller.charge/drop need MQTT; they are ignored without it")
        self.artisan = None
        if config.artisan.enabled:
            from agent.artisan.bridge import ArtisanBridge

            self.artisan = ArtisanBridge(config.artisan, self._roast_from("artisan"))
            # First, so Artisan's FCs push is not queued behind the MQTT outbox write.
            self.runtime.sinks.insert(0, self.artisan)
        self.recorder = self._recorder(parts.scorer.name)
        self.loop = LiveLoop(self.source, self.chain, cond=cond)
        self.loop.audio_taps.append(self.recorder.audio)

    def _recorder(self, model_name: str) -> Any:
        """The roast recorder (docs/RECORDINGS.md), last among the sinks. It is built even
        when `recording.enabled` is false, so the Home Assistant switch can turn it on; off,
        it only counts samples and touches no disk."""
        from agent.recording import Recorder, recordings_dir

        config = self.config
        recorder = Recorder(config.recording, config.agent_id, recordings_dir(config),
                            model_name, self.runtime.roast_view)
        self.runtime.sinks.append(recorder)
        for key in recorder.usage():
            self.runtime.state_extras[key] = lambda k=key: recorder.usage()[k]  # type: ignore[misc]
        return recorder

    def _roast_from(self, origin: str) -> Callable[[str], None]:
        """A transport's roast-command callback: validated actions into the runtime's queue."""

        def submit(action: str) -> None:
            self.runtime.commands.submit(RoastCommand(action, origin))  # type: ignore[arg-type]

        return submit

    @property
    def sinks(self) -> Sequence[Sink]:
        return self.runtime.sinks

    def run(self, install_signals: bool = True) -> None:
        """Start sinks, stream until the source ends or a signal arrives, then shut down."""
        run_agents([self], install_signals=install_signals)

    def start_sinks(self) -> None:
        """Start the sinks and announce settings and state (on the thread that will score)."""
        for sink in self.sinks:
            sink.start()
        if self.runtime.apply_pending():
            return  # applying the restored settings announced them
        for sink in self.sinks:
            sink.publish_settings(self.runtime.current_settings())
            sink.state(self.runtime.snapshot())

    def stop(self) -> None:
        log.info("stopping")
        self.loop.stop()

    def close(self, timeout: float = 5.0) -> None:
        self.runtime.apply_pending()  # a command that came in at the very end still counts
        for sink in self.sinks:
            sink.state(self.runtime.snapshot())
        for sink in self.sinks:
            try:
                sink.close(timeout)
            except Exception:  # one sink's failure must not keep others open
                log.exception("closing sink %s failed", type(sink).__name__)


def run_agents(agents: Sequence[Agent], install_signals: bool = True) -> None:
    """Run one or more roasters on one shared inference worker until all sources end.

    The agents must share one scorer and were built with one shared condition
    (see `build_agents`); the worker scores their due windows as one batch.
    """
    from agent.live.worker import SharedInference

    def stop_all(*_: object) -> None:
        for agent in agents:
            agent.stop()

    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop_all)
    try:
        for agent in agents:
            agent.start_sinks()
        SharedInference([a.loop for a in agents], agents[0].runtime.scorer).run()
    finally:
        close_all(agents)


def close_all(agents: Sequence[Agent]) -> None:
    """Close every roaster at once, so shutdown with the broker away costs one flush grace
    (`mqtt.flush_grace_s`), not one per roaster."""
    if len(agents) == 1:
        agents[0].close()
        return
    closers = [
        threading.Thread(target=agent.close, name=f"firstcrack-close-{agent.config.agent_id}")
        for agent in agents
    ]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join()


def build_agents(
    config: AgentConfig,
    sources: Sequence[Any],
    scorer: Any,
    extra_sinks: Any = None,
    mqtt: bool = True,
) -> list[Agent]:
    """One `Agent` per configured roaster (or the single top-level one), sharing the scorer.

    `extra_sinks(agent_id)` may return more sinks for a roaster (e.g. JSON lines).
    """
    roaster_configs = (
        [config.for_roaster(r) for r in config.roasters] if config.roasters else [config]
    )
    if len(sources) != len(roaster_configs):
        raise ValueError("one source per roaster is needed")
    cond = threading.Condition()
    agents = []
    for roaster_config, source in zip(roaster_configs, sources, strict=True):
        sinks = list(extra_sinks(roaster_config.agent_id)) if extra_sinks else []
        parts = AgentParts(roaster_config, source, scorer, sinks)
        agents.append(Agent(parts, mqtt=mqtt, cond=cond))
    return agents
