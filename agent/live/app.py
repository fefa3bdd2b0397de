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
from typing import TYPE_CHECKING, Any

from firstcrack.agent.config import AgentConfig, DashboardConfig, check_setting
from firstcrack.agent.core.command_queue import RestoreSettings, RoastCommand
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES
from firstcrack.agent.core.sinks import Sink
from firstcrack.agent.dashboard.hub import Hub
from firstcrack.agent.dashboard.roaster_view import RoasterView
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.live.loop import LiveLoop
from firstcrack.agent.mqtt.controller import ControllerLifecycle

if TYPE_CHECKING:
    from firstcrack.agent.dashboard.server import DashboardServer

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


def ordered_sinks(
    artisan: Sink | None, mqtt: Sink | None, outputs: Sequence[Sink],
    dashboard: Sink | None, recorder: Sink | None,
) -> list[Sink]:
    """The order in which every announcement reaches the sinks, and why.

    1. Artisan: its FCs push must not wait behind the MQTT outbox's disk write.
    2. MQTT: an event is in the durable outbox before anything else reports it, so an
       event a user sees as a JSON line or on the dashboard is already safe from a
       broker outage.
    3. The caller's outputs (JSON lines on stdout), in the caller's order.
    4. The dashboard: it only queues for its browsers, never waits.
    5. The recorder: it writes files, and records what was announced.
    """
    return [s for s in (artisan, mqtt, *outputs, dashboard, recorder) if s is not None]


class SourceHealth:
    """The audio source's counters in `state` (the `source` payload provider)."""

    provider = "source"

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        if topic != "state":
            return {}
        stats = self._stats()
        return {f"source_{key}": getattr(stats, key)
                for key in ("overruns", "dropped_blocks", "reopens")}


class Agent:
    """One roaster: a source, a runtime and its sinks, assembled here and nowhere else."""

    def __init__(
        self,
        parts: AgentParts,
        mqtt: bool = True,
        cond: threading.Condition | None = None,
        dashboard: Hub | None = None,
    ) -> None:
        """`dashboard`: the hub of a dashboard that shows this roaster (agent/dashboard/)."""
        from firstcrack.agent.live.persist import SettingsStore

        config = parts.config
        self.config = config
        self.source = parts.source
        store = SettingsStore(Path(config.state_dir) / config.agent_id)
        self.chain = build_chain(config, parts.scorer, persistence=store)
        self.runtime = self.chain.runtime
        stats = getattr(self.source, "stats", None)
        if stats is not None:  # audio health for dashboards and HA diagnostic sensors
            self.runtime.add_provider(SourceHealth(stats))
        restore = restored_settings(config, store)
        if restore is not None:
            self.runtime.commands.submit(restore)  # applied before anything is announced
        self.controller = ControllerLifecycle(config.controller, self._roast_from("controller"))
        self.mqtt_sink = self._mqtt_sink(parts.scorer.name, wanted=mqtt)
        self.artisan = None
        if config.artisan.enabled:
            from firstcrack.agent.artisan.bridge import ArtisanBridge

            self.artisan = ArtisanBridge(config.artisan, self._roast_from("artisan"))
        self.recorder = self._recorder(parts.scorer.name)
        self.view = None if dashboard is None else RoasterView(config.agent_id, dashboard,
                                                               self.connections)
        self.runtime.sinks = ordered_sinks(self.artisan, self.mqtt_sink, parts.sinks,
                                           self.view, self.recorder)
        self.loop = LiveLoop(self.source, self.chain, cond=cond)
        self.loop.audio_taps.append(self.recorder.audio)

    def connections(self) -> dict[str, str]:
        """What the dashboard shows of this roaster's links (read from any thread)."""
        mqtt = "off" if self.mqtt_sink is None else (
            "connected" if self.mqtt_sink.connected else "offline")
        links = {"mqtt": mqtt}
        if self.artisan is not None:
            links["artisan"] = f"{self.artisan.clients} connected"
        return links

    def _mqtt_sink(self, model_name: str, wanted: bool) -> Any:
        """The MQTT sink, or None when MQTT is off (then the controller topics are too)."""
        config = self.config
        if not (wanted and config.mqtt.enabled):
            if self.controller.enabled:
                log.warning("controller.charge/drop need MQTT; they are ignored without it")
            return None
        from firstcrack.agent.mqtt import MqttSink

        sink = MqttSink(
            config.mqtt,
            config.agent_id,
            Path(config.state_dir) / config.agent_id,
            self.runtime,
            model_name=model_name,
            extra_subscriptions=self.controller.subscriptions,
            on_external=self.controller.on_message if self.controller.enabled else None,
            external_command=self.controller.command_for,
        )
        self.runtime.add_provider(sink)
        return sink

    def _recorder(self, model_name: str) -> Any:
        """The roast recorder (docs/RECORDINGS.md). It is built even when `recording.enabled`
        is false, so the Home Assistant switch can turn it on; off, it only counts samples
        and touches no disk."""
        from firstcrack.agent.recording import Recorder, recordings_dir

        config = self.config
        recorder = Recorder(config.recording, config.agent_id, recordings_dir(config),
                            model_name, self.runtime.roast_view)
        self.runtime.add_provider(recorder)
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
    from firstcrack.agent.live.worker import SharedInference

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
    dashboard: Hub | None = None,
) -> list[Agent]:
    """One `Agent` per configured roaster (or the single top-level one), sharing the scorer.

    `extra_sinks(agent_id)` may return more sinks for a roaster (e.g. JSON lines);
    `dashboard` is the hub of the dashboard that shows them (`serve_dashboard`).
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
        agents.append(Agent(parts, mqtt=mqtt, cond=cond, dashboard=dashboard))
    return agents


def serve_dashboard(config: DashboardConfig, hub: Hub,
                    agents: Sequence[Agent]) -> DashboardServer | None:
    """Start the dashboard that shows `agents` (built with `dashboard=hub`).

    When its port cannot be bound, the agent runs on without it: the error is logged with
    the key to change, and None returned. The detector is the job; the page is a view.
    """
    from firstcrack.agent.dashboard.server import DashboardServer, Roaster

    roasters = [Roaster(a.view, a.runtime.submit) for a in agents if a.view is not None]
    try:
        server = DashboardServer(config, hub, roasters)
    except OSError as exc:
        log.error("dashboard: cannot listen on %s:%d (%s); set dashboard.port, or "
                  "dashboard.enabled: false. The agent runs without it.",
                  config.host, config.port, exc.strerror or exc)
        return None
    server.start()
    return server
