"""Incoming commands: `<base>/<setting>/set` and `<base>/roast/set` (README, "MQTT").

Every payload is validated (`agent/mqtt/validation.py`) on the network thread,
then submitted to the runtime's command queue (agent/core/command_queue.py); the
scoring thread applies it and announces the new settings and state. A
rejected command goes to `<base>/error` with a log line, and a `Resync` is
submitted so the setting's old `/state` is re-published and UIs snap back.
Incoming topic names only select from the fixed table in `Topics`; nothing
received becomes a topic. A command the broker held too long while the agent
was away (agent/mqtt/session.py) is answered on `<base>/error` with its age and
not applied.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from firstcrack.agent.core.command_queue import Command, Resync, RoastCommand, SetSetting
from firstcrack.agent.core.messages import RoastState, to_json
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES, RuntimeSettings, format_setting
from firstcrack.agent.mqtt.session import Held
from firstcrack.agent.mqtt.topics import Topics
from firstcrack.agent.mqtt.validation import CommandError, parse_roast_command, parse_setting

log = logging.getLogger("firstcrack.mqtt")

_ERROR_PAYLOAD_CHARS = 100
SEEN_IDS = 256
"""Roast-command ids remembered: a repeat of one of these is a redelivery, not a command."""


class CommandHandler(Protocol):
    """What the sink needs from the runtime; every method must be thread-safe."""

    def submit(self, command: Command) -> None:
        """Queue a validated command for the scoring thread, which applies it and
        announces the new settings and state to every sink (this one included)."""
        ...

    def snapshot(self) -> RoastState:
        """The current roast state."""
        ...

    def settings(self) -> RuntimeSettings:
        """The settings in effect."""
        ...


def shown_payload(payload: bytes) -> str:
    """An incoming payload as text for `<base>/error`: UTF-8 if valid, else a repr; truncated."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = repr(payload)
    if len(text) > _ERROR_PAYLOAD_CHARS:
        text = text[:_ERROR_PAYLOAD_CHARS] + "…"
    return text


class CommandRouter:
    """Validates commands and submits them to the runtime; runs on the MQTT network thread."""

    def __init__(
        self,
        topics: Topics,
        handler: CommandHandler,
        publish: Callable[[str, bytes | str, int, bool], bool],
    ) -> None:
        """`publish(topic, payload, qos, retain)` sends an error report now. Settings and
        state are announced by the handler itself (the runtime's owner thread), to all of
        its sinks at once."""
        self._topics = topics
        self._handler = handler
        self._publish = publish
        self._seen: OrderedDict[str, None] = OrderedDict()

    def route(self, topic: str, payload: bytes, retained: bool, held: Held | None = None) -> None:
        """Handle one message on our base topic (anything else is ignored); `held`: the
        broker held it too long to apply."""
        t = self._topics
        if held is not None and t.is_set_topic(topic):
            self.refuse_held(topic, payload, held)
            if topic != t.roast_set:
                self._handler.submit(Resync())  # the old /state again, so UIs snap back
            return
        if topic == t.roast_set:
            self._roast_command(topic, payload, retained)
            return
        name = t.setting_for_set_topic(topic)
        if name is not None:
            self._set_command(name, topic, payload)
        elif t.is_set_topic(topic):
            self._reject(
                topic, payload, "unknown setting; settable: " + ", ".join(RUNTIME_SETTING_NAMES)
            )

    def _set_command(self, name: str, topic: str, payload: bytes) -> None:
        try:
            value = parse_setting(name, payload)
        except CommandError as exc:
            self._reject(topic, payload, str(exc))
            self._handler.submit(Resync())  # the old /state again, so UIs snap back
            return
        log.info("remote setting %s = %s", name, format_setting(value))
        self._handler.submit(SetSetting(name, value))

    def _roast_command(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            if retained:
                # A retained `start` would restart the roast on every reconnect.
                raise CommandError("roast commands must not be retained; ignored")
            request = parse_roast_command(payload)
        except CommandError as exc:
            self._reject(topic, payload, str(exc))
            return
        if request.id is not None:
            if request.id in self._seen:
                log.info("roast command %s (id %s) already applied; ignored", request.action,
                         request.id)
                return
            self._seen[request.id] = None
            while len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
        log.info("remote roast command: %s%s", request.action,
                 "" if request.id is None else f" (id {request.id})")
        self._handler.submit(RoastCommand(request.action))  # type: ignore[arg-type]

    def refuse_held(self, topic: str, payload: bytes, held: Held) -> None:
        """Answer a command too old to apply (ours, or a roaster controller's)."""
        self._reject(topic, payload, held.reason(),
                     {"age_s": None if held.age_s is None else round(held.age_s, 1),
                      "max_age_s": held.max_age_s})

    def _reject(
        self, topic: str, payload: bytes, error: str, extra: dict[str, object] | None = None
    ) -> None:
        shown = shown_payload(payload)
        log.warning("rejected command on %s (payload %r): %s", topic, shown, error)
        body = {"topic": topic, "payload": shown, "error": error, **(extra or {})}
        self._publish(self._topics.error, to_json(body).encode(), 1, False)
