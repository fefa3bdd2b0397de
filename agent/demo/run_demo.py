"""`firstcrack demo`: the whole agent on embedded defaults, watched through MQTT.

A simulated roast replays at high speed through the shipped demo model; the
agent publishes to an in-process broker (or `--broker HOST[:PORT]`), and a
subscriber on that broker prints telemetry and the first-crack event as any
MQTT client would see them. It ends with a summary against the simulator's
ground truth. No microphone, no network, no configuration needed.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
from typing import Any

import paho.mqtt.client as mqtt

DEMO_AGENT_ID = "demo"
BAR = " ▁▂▃▄▅▆▇█"


def _bar(p: float) -> str:
    return BAR[min(len(BAR) - 1, int(round(p * (len(BAR) - 1))))]


class DemoWatcher:
    """A plain MQTT subscriber that prints what the agent publishes."""

    def __init__(self, host: str, port: int, base: str) -> None:
        self.base = base
        self.telemetry = 0
        self.events: list[dict[str, Any]] = []
        self.end_events: list[dict[str, Any]] = []
        self.last_state: dict[str, Any] = {}
        self.spark: list[str] = []
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="firstcrack-demo-watch"
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"demo subscriber could not subscribe on {host}:{port}")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(f"{self.base}/#", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic[len(self.base) + 1 :]
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode(errors="replace")
        if topic == "telemetry":
            self._print_telemetry(payload)
        elif topic == "event" and payload.get("event_type") == "first_crack_end":
            self.end_events.append(payload)
            print(
                f"\n*** FIRST CRACK ENDED at roast {payload['end_roast_s']:.1f} s  [{msg.topic}]\n",
                flush=True,
            )
        elif topic == "event":
            self.events.append(payload)
            print(
                f"\n*** FIRST CRACK  event_id={payload['event_id'][:8]}…  "
                f"onset at roast {payload['onset_roast_s']:.1f} s, confirmed at "
                f"{payload['roast_s']:.1f} s (p={payload['probability']:.2f}, "
                f"{payload['positive_windows']} positive windows)  [{msg.topic}]\n",
                flush=True,
            )
        elif topic == "state" and isinstance(payload, dict):
            self.last_state = payload

    def _print_telemetry(self, t: dict[str, Any]) -> None:
        self.telemetry += 1
        self.spark.append(_bar(t["probability"]))
        roast = t["roast_s"] or 0.0
        print(
            f"roast {int(roast) // 60:2d}:{int(roast) % 60:02d}  p={t['probability']:.2f} "
            f"{_bar(t['probability'])}  {t['dbfs']:6.1f} dBFS  {t['inference_ms']:6.1f} ms  "
            f"pops/min {t.get('pops_per_min', 0):5.0f}  {t['phase']}",
            flush=True,
        )

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="simulated roast seed (default: 7)")
    parser.add_argument("--speed", type=float, default=40.0, help="replay speed (default: 40)")
    parser.add_argument("--broker", help="use an external broker HOST[:PORT] instead")
    parser.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")
    parser.add_argument("--port", type=int, default=8787,
                        help="dashboard port on 127.0.0.1 (default: 8787; 0: any free port)")
    parser.add_argument("--hold", action="store_true",
                        help="keep the dashboard open after the roast ends, until Ctrl-C")


def main(args: argparse.Namespace) -> int:
    from firstcrack.agent.config import load_config
    from firstcrack.agent.dashboard.hub import Hub
    from firstcrack.agent.live.app import Agent, AgentParts, serve_dashboard
    from firstcrack.agent.sources import SimSource
    from firstcrack.models.inference.classifier import load_classifier

    broker = None
    if args.broker:
        host, _, port_text = args.broker.partition(":")
        port = int(port_text or 1883)
    else:
        from firstcrack.agent.demo.demo_broker import InProcessBroker

        broker = InProcessBroker()
        host, port = "127.0.0.1", broker.start()
        print(f"in-process MQTT broker on {host}:{port}")
    with tempfile.TemporaryDirectory(prefix="firstcrack-demo-") as state_dir:
        config = load_config(
            environ={},
            overrides={
                "agent_id": DEMO_AGENT_ID,
                "state_dir": state_dir,
                "model": "demo",
                "backend": args.backend,
                "log_level": "WARNING",
                "mqtt": {"host": host, "port": port, "reconnect_min_s": 0.2,
                         "protocol": "3.1.1"},  # amqtt speaks only 3.1.1
                "dashboard": {"port": args.port},
            },
        )
        base = f"firstcrack/{config.agent_id}"
        watcher = DemoWatcher(host, port, base)
        print(f"simulating roast seed {args.seed} at {args.speed:g}x real time …", flush=True)
        source = SimSource(args.seed, speed=args.speed)
        scorer = load_classifier("demo", backend=config.backend)
        print(f"model: demo ({scorer.backend}); subscribed to {base}/#\n", flush=True)
        hub = Hub()
        agent = Agent(AgentParts(config, source, scorer, []), dashboard=hub)
        server = serve_dashboard(config.dashboard, hub, [agent])
        if server is not None:
            print(f"dashboard: {server.url}\n", flush=True)
        agent.run()
        watcher.close()
        _summary(source.truth, watcher, agent)
        if server is not None:
            if args.hold:
                _hold(server.url)
            server.close()
    if broker is not None:
        broker.stop()
    return 0 if watcher.events or not source.truth.crack else 1


def _hold(url: str) -> None:
    """Keep serving the dashboard (it runs on its own thread) until Ctrl-C."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the agent had taken it
    print(f"\nthe dashboard stays open at {url}; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def _summary(truth: Any, watcher: DemoWatcher, agent: Any) -> None:
    print("\n── summary " + "─" * 50)
    print(f"roast length        {truth.duration:.0f} s, {watcher.telemetry} telemetry messages")
    print(f"probability         {''.join(watcher.spark[-120:])}")
    if truth.first_crack_onset_s is not None:
        onset, end = truth.first_crack_onset_s, truth.first_crack_end_s
        print(f"true first crack    {onset:.1f} s – {end:.1f} s")
    if watcher.events:
        e = watcher.events[0]
        print(f"detected onset      {e['onset_roast_s']:.1f} s (confirmed at {e['roast_s']:.1f} s)")
        if truth.first_crack_onset_s is not None:
            print(f"onset error         {e['onset_roast_s'] - truth.first_crack_onset_s:+.1f} s")
    else:
        print("detected            no first crack")
    if watcher.end_events:
        print(f"detected end        {watcher.end_events[0]['end_roast_s']:.1f} s")
    state = watcher.last_state
    if state.get("development_s") is not None:
        print(f"development time    {state['development_s']:.0f} s at the end of the recording")
    print(f"dropped windows     {agent.runtime.dropped_windows}")
    print(
        f"events received     {len(watcher.events)} first_crack, "
        f"{len(watcher.end_events)} first_crack_end"
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(argparse.Namespace(seed=7, speed=40.0, broker=None, backend="auto",
                                             port=8787, hold=False)))
