"""Doctor checks against the MQTT broker: can the agent log in, and is discovery there?

The probe connects as the agent would: the client comes from the agent's own
`build_client` (same protocol, credentials and TLS settings), then two things
differ on purpose:

- its client id is `firstcrack-doctor-<random>`, never the agent's: a broker
  disconnects the older of two clients with one id, so reusing the agent's id
  would throw a running agent off the broker;
- its last will is cleared: a doctor that dies mid-check must not publish the
  agent's retained `offline`.

Failures are told apart because their fixes differ: nothing listening or no
route ("unreachable": start the broker, check host and port), a TLS handshake
or certificate failure (check `mqtt.tls`), a CONNACK refusing the login
(reason codes "Bad user name or password" / "Not authorized": check the
credentials and the broker's ACL), and a connection closed before any
CONNACK (usually a plain client talking to a TLS listener).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.client import Client, MQTTMessage

from firstcrack.agent.config import AgentConfig, MqttConfig
from firstcrack.agent.mqtt.client import build_client
from firstcrack.agent.mqtt.discovery import discovery_messages
from firstcrack.agent.mqtt.topics import Topics
from firstcrack.agent.setup.checks import CheckResult, failed, passed, skipped, warned

CONNECT_TIMEOUT_S = 5.0
RETAINED_WAIT_S = 1.5
"""After the SUBACK, how long retained discovery configs may take to arrive."""
CREDENTIAL_CODES = {134, 135}
"""CONNACK reason codes (MQTT 5 numbering, as paho reports 3.1.1's 4 and 5) for a login."""
START_BROKER = (
    "start the broker (`systemctl start mosquitto`, or Home Assistant's Mosquitto add-on) "
    "or set mqtt.host / mqtt.port (FIRSTCRACK_MQTT__HOST, FIRSTCRACK_MQTT__PORT) to where "
    "it listens"
)


@dataclass
class Probe:
    """How one connection attempt went.

    outcome: `accepted`, `refused` (CONNACK failure), `unreachable`, `tls`,
    `closed` (the connection ended before a CONNACK) or `timeout` (no CONNACK).
    """

    outcome: str
    detail: str
    retained: list[str] = field(default_factory=list)
    code: int | None = None
    """The CONNACK reason code of a refusal."""


def probe(
    config: MqttConfig,
    timeout_s: float = CONNECT_TIMEOUT_S,
    subscribe: list[str] | None = None,
    expect: int = 0,
) -> Probe:
    """Connect, wait for the CONNACK, optionally collect retained messages on `subscribe`.

    With `subscribe`, waits after the SUBACK until `expect` retained messages
    came or `RETAINED_WAIT_S` passed. Never raises for a broker problem.
    """
    where = f"{config.host}:{config.port}"
    try:
        client = build_client(config, f"firstcrack-doctor-{uuid.uuid4().hex[:8]}", "unused")
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Probe("tls", f"cannot set up TLS from mqtt.tls: {exc}")
    client.will_clear()
    client.connect_timeout = timeout_s
    cond = threading.Condition()
    state: dict[str, Any] = {"connack": None, "closed": False, "subacked": False}
    retained: list[str] = []

    def on_connect(c: Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with cond:
            state["connack"] = reason
            cond.notify_all()
        if not reason.is_failure and subscribe:
            c.subscribe([(topic, 1) for topic in subscribe])

    def on_subscribe(_c: Client, _u: Any, _mid: int, _codes: Any, _p: Any) -> None:
        with cond:
            state["subacked"] = True
            cond.notify_all()

    def on_message(_c: Client, _u: Any, msg: MQTTMessage) -> None:
        if msg.retain:
            with cond:
                retained.append(msg.topic)
                cond.notify_all()

    def on_disconnect(_c: Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        with cond:
            state["closed"] = True
            cond.notify_all()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_message, client.on_disconnect = on_message, on_disconnect
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive_s)
    except ssl.SSLError as exc:  # before OSError: SSLError is one
        return Probe("tls", f"TLS handshake with {where} failed: {exc}")
    except ConnectionRefusedError:
        return Probe("unreachable", f"{where} refused the connection (nothing listening)")
    except TimeoutError:
        return Probe("unreachable", f"{where} did not answer within {timeout_s:.0f} s")
    except socket.gaierror as exc:
        return Probe("unreachable", f"host {config.host!r} not found: {exc}")
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        if _uses_tls(config):  # TCP connected, then the handshake was cut: not a TLS listener
            return Probe("tls", f"TLS handshake with {where} failed: {exc} (is it a TLS port?)")
        return Probe("unreachable", f"cannot connect to {where}: {exc}")
    except (OSError, ValueError, UnicodeError) as exc:
        return Probe("unreachable", f"cannot connect to {where}: {exc}")
    client.loop_start()
    try:
        return _await(cond, state, retained, where, timeout_s, bool(subscribe), expect)
    finally:
        try:
            client.disconnect()
            client.loop_stop()
        except Exception:  # noqa: BLE001 - paho's loop_stop race (agent/mqtt/connection.py)
            pass


def _await(
    cond: threading.Condition,
    state: dict[str, Any],
    retained: list[str],
    where: str,
    timeout_s: float,
    subscribing: bool,
    expect: int,
) -> Probe:
    with cond:
        cond.wait_for(lambda: state["connack"] is not None or state["closed"], timeout_s)
        reason = state["connack"]
        if reason is None:
            if state["closed"]:
                return Probe("closed", f"{where} closed the connection before accepting it")
            silent = f"{where} accepted TCP but sent no CONNACK in {timeout_s:.0f} s"
            return Probe("timeout", silent)
        if reason.is_failure:
            detail = f"{where} refused the login: {reason}"
            return Probe("refused", detail, code=int(reason.value))
        if not subscribing:
            return Probe("accepted", f"{where} accepted the connection")
        cond.wait_for(lambda: state["subacked"] or state["closed"], timeout_s)
        if not state["subacked"]:
            return Probe("timeout", f"{where} did not acknowledge the subscription")
        until = time.monotonic() + RETAINED_WAIT_S
        while len(retained) < max(expect, 1) and (left := until - time.monotonic()) > 0:
            cond.wait(left)
        return Probe("accepted", f"{where} accepted the connection", sorted(set(retained)))


def _uses_tls(config: MqttConfig) -> bool:
    """As `build_client` decides: TLS when enabled or when certificates are given."""
    return bool(config.tls.enabled or config.tls.ca_certs or config.tls.certfile)


def _login(config: MqttConfig) -> str:
    user = f"user {config.username!r}" if config.username else "no username"
    return f"{user}, {'TLS' if _uses_tls(config) else 'no TLS'}"


def check_broker(config: AgentConfig, timeout_s: float = CONNECT_TIMEOUT_S) -> CheckResult:
    """The broker in `config.mqtt` takes the agent's login; SKIP when MQTT is off."""
    name, mqtt = "broker", config.mqtt
    if not mqtt.enabled:
        return skipped(name, "mqtt.enabled is false: the agent publishes nothing")
    result = probe(mqtt, timeout_s)
    detail = f"{result.detail} ({_login(mqtt)})"
    if result.outcome == "accepted":
        return passed(name, detail)
    if result.outcome == "unreachable":
        return failed(name, f"unreachable: {detail}", START_BROKER)
    if result.outcome == "refused":
        if result.code in CREDENTIAL_CODES:
            return failed(name, f"bad credentials: {detail}",
                          "check mqtt.username and the password (FIRSTCRACK_MQTT__PASSWORD) "
                          "against the broker's password file or Home Assistant user, and that "
                          "the broker's ACL lets this user connect")  # fmt: skip
        return failed(name, detail, "see the broker's log for why it refused the connection")
    if result.outcome == "tls":
        return failed(name, detail,
                      "check mqtt.tls: ca_certs must be the CA that signed the broker's "
                      "certificate, mqtt.host must match the certificate's name (or set "
                      "tls.insecure for a test), and the port must be the TLS listener "
                      "(usually 8883)")  # fmt: skip
    return failed(name, detail,
                  "if the broker listens with TLS on this port set mqtt.tls.enabled: true; "
                  "otherwise see the broker's log")  # fmt: skip


def discovery_filter(topics: Topics) -> str:
    """`<prefix>/+/<agent_id>/+/config`: every discovery config of one agent."""
    return topics.discovery("+", "+")


def check_discovery(
    config: AgentConfig, agent_id: str, timeout_s: float = CONNECT_TIMEOUT_S
) -> CheckResult:
    """Home Assistant has retained discovery configs for `agent_id`; WARN when none."""
    name = f"discovery ({agent_id})"
    mqtt = config.mqtt
    if not mqtt.enabled:
        return skipped(name, "mqtt.enabled is false")
    if not mqtt.discovery:
        return skipped(name, "mqtt.discovery is false: Home Assistant entities are not announced")
    topics = Topics(agent_id, mqtt.discovery_prefix)
    expected = len(discovery_messages(topics))
    pattern = discovery_filter(topics)
    result = probe(mqtt, timeout_s, subscribe=[pattern], expect=expected)
    if result.outcome != "accepted":
        return skipped(name, f"cannot look: {result.detail}")
    found = len(result.retained)
    if found == 0:
        return warned(name, f"no retained configs on {pattern}",
                      "start `firstcrack run` once; discovery is published on connect "
                      "(and Home Assistant's MQTT integration must use the prefix "
                      f"{mqtt.discovery_prefix!r})")  # fmt: skip
    if found < expected:
        return warned(name, f"{found} of {expected} entity configs retained on {pattern}",
                      "start `firstcrack run` once with this version: it re-publishes every "
                      "entity on connect")  # fmt: skip
    return passed(name, f"{found} entity configs retained on {pattern}")
