#!/usr/bin/env python3
"""How late does a first-crack event queued during a broker outage arrive after the broker
comes back? Measured against a real mosquitto with the shipped reconnect settings.

For each outage length: the sink is connected; mosquitto is stopped; a first-crack-like
event is queued in the sink's durable outbox while the broker is down; after the outage
mosquitto is started again on the same port, and the script prints the delays from the
broker accepting connections again to

- `connected`: the sink's connection accepted and its on-connect publishes done,
- `acked`: the broker's PUBACK for the event (the outbox row deleted),
- `arrived`: the event reaching a subscriber (a persistent session, so it cannot
  miss the event while it reconnects itself, within 0.05-0.2 s).

Usage: .venv/bin/python scripts/measure_redelivery.py [--outages 5 15 60] [--repeat 1]
Needs `mosquitto` on PATH (or /usr/sbin/mosquitto), as the MQTT tests do.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firstcrack.agent.config import MqttConfig  # noqa: E402
from firstcrack.agent.core.messages import FirstCrackEvent  # noqa: E402
from firstcrack.agent.mqtt.publisher import MqttSink  # noqa: E402
from tests.mqtt_fixtures import FakeHandler, Mosquitto, Subscriber  # noqa: E402

TOPIC = "firstcrack/roaster1/event"


@dataclass(frozen=True)
class Trial:
    outage_s: float
    connected_s: float
    acked_s: float
    arrived_s: float
    attempts: int  # connect attempts during the outage


def _event(n: int) -> FirstCrackEvent:
    return FirstCrackEvent(
        event_id=f"measure-{n:04d}",
        ts="2026-01-01T00:08:20.000Z",
        onset_ts="2026-01-01T00:08:05.000Z",
        roast_s=500.0,
        onset_roast_s=485.0,
        audio_s=500.0,
        onset_audio_s=485.0,
        probability=0.93,
        positive_windows=5,
        model="measure",
    )


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.005)


def trial(broker: Mosquitto, sink: MqttSink, sub: Subscriber, n: int, outage_s: float) -> Trial:
    event = _event(n)
    _wait(lambda: sink.connected, 30, "the sink to connect")
    broker.stop()
    stopped = time.monotonic()
    _wait(lambda: not sink.connected, 30, "the sink to notice the outage")
    sink.event(event)  # durable once this returns
    attempts_before = sink.connect_attempts
    time.sleep(max(0.0, outage_s - (time.monotonic() - stopped)))
    broker.start()  # returns once the port accepts connections
    up = time.monotonic()
    _wait(lambda: sink.connected, 60, "the sink to reconnect")
    connected = time.monotonic() - up
    _wait(lambda: sink.pending == 0, 60, "the PUBACK")
    acked = time.monotonic() - up
    got = sub.wait_for(lambda m: m.topic == TOPIC and m.json()["event_id"] == event.event_id, 60)
    return Trial(outage_s, connected, acked, got.at - up, sink.connect_attempts - attempts_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=float, nargs="+", default=[5.0, 15.0, 60.0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    config = MqttConfig()  # the shipped reconnect_min_s / reconnect_max_s
    print(
        f"reconnect_min_s={config.reconnect_min_s} reconnect_max_s={config.reconnect_max_s}; "
        "delays in seconds from the broker accepting connections again"
    )
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="measure-redelivery-") as tmp:
        work = Path(tmp)
        (work / "broker").mkdir()
        broker = Mosquitto(work / "broker", persistent=True)
        broker.start()
        cfg = config.model_copy(update={"host": "127.0.0.1", "port": broker.port})
        sub = Subscriber(broker.port, [TOPIC], client_id="measure-watch", clean_session=False)
        sink = MqttSink(cfg, "roaster1", work / "state", FakeHandler(), model_name="measure")
        sink.start()
        try:
            n = 0
            for outage in args.outages:
                for _ in range(args.repeat):
                    result = trial(broker, sink, sub, n, outage)
                    n += 1
                    trials.append(result)
                    print(
                        f"outage {result.outage_s:5.0f} s: connected {result.connected_s:5.2f}"
                        f"  acked {result.acked_s:5.2f}  arrived {result.arrived_s:5.2f}"
                        f"  ({result.attempts} connect attempts while down)",
                        flush=True,
                    )
        finally:
            sink.close(2.0)
            sub.close()
            broker.stop()
    if args.repeat > 1:
        for outage in args.outages:
            arrived = [t.arrived_s for t in trials if t.outage_s == outage]
            print(
                f"outage {outage:5.0f} s: arrived median {statistics.median(arrived):.2f}"
                f"  max {max(arrived):.2f}  (n={len(arrived)})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
