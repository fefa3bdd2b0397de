"""Artisan's WebSocket device protocol: the messages, apart from any socket.

Facts from Artisan's `src/artisanlib/wsport.py` (the client side) and its
WebSocket device page, which this follows:
- Artisan is the *client*. It connects to `ws://<host>:<port>/<path>` (the
  default path is `WebSocket`) and may send several JSON objects in one frame,
  separated by newlines.
- A request is `{"command": <name>, "id": <int 1..99999>, "roasterID": <int>}`.
  With the main WebSocket device and a non-empty "Data Request" (default
  `getData`) one such request goes out every sampling interval; an input whose
  own "Request" field is set sends that name as the command instead. Artisan
  waits `request_timeout` (0.5 s by default) for the answer, then reads -1.
- Any incoming message with an `id` node is taken as the answer to the request
  with that id: `{"id": <same id>, "data": {<node>: <value>, ...}}`. Artisan
  reads each channel as `float(data[<node>])`; a missing node reads as -1.
- Push messages carry no `id`: `{"pushMessage": "startRoasting"}` marks CHARGE,
  `{"pushMessage": "endRoasting"}` marks DROP, and
  `{"pushMessage": "addEvent", "data": {"event": "firstCrackBeginningEvent"}}`
  marks FCs (`firstCrackEndEvent`: FCe; also colorChangeEvent (DRY) and
  secondCrackBeginning/EndEvent). Artisan applies addEvent only while it is
  recording and only if that event is not marked yet.
- Those pushes go from the server to Artisan. Artisan itself tells the server
  about CHARGE/DROP only through button actions of type "WebSocket Command",
  e.g. `send({"command": "startRoasting"})`, which arrive as requests with an
  `id` and `roasterID` added. The bridge accepts that, and the push form too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ID_NODE = "id"
COMMAND_NODE = "command"
DATA_NODE = "data"
PUSH_NODE = "pushMessage"
ADD_EVENT = "addEvent"
EVENT_NODE = "event"
FCS_EVENT = "firstCrackBeginningEvent"
FCE_EVENT = "firstCrackEndEvent"
SCS_EVENT = "secondCrackBeginningEvent"
"""Artisan's SCs mark (its WebSocket `addEvent` names: wsport.py's SCs_node)."""
MAX_MESSAGE_BYTES = 64 * 1024


class ProtocolError(ValueError):
    """A message that is not Artisan protocol; the message says why."""


@dataclass(frozen=True)
class Incoming:
    """One JSON object from a client.

    name: the `command` (a request) or `pushMessage` value.
    request_id: the `id` to echo in the answer; None for a push (which gets no answer).
    """

    name: str
    request_id: Any


def parse_frame(frame: str | bytes) -> list[Incoming | ProtocolError]:
    """Every newline-separated JSON object in one frame, each parsed or the error it raised."""
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            return [ProtocolError("frame is not UTF-8")]
    return [parse_message(line) for line in frame.strip().split("\n") if line.strip()]


def parse_message(text: str) -> Incoming | ProtocolError:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return ProtocolError(f"not JSON ({exc.args[0] if exc.args else exc})")
    if not isinstance(obj, dict):
        return ProtocolError("not a JSON object")
    request_id = obj.get(ID_NODE)
    valid_id = request_id is None or isinstance(request_id, int | str)
    if not valid_id or isinstance(request_id, bool):
        return ProtocolError(f"`{ID_NODE}` must be a number or string")
    name = obj.get(COMMAND_NODE) if COMMAND_NODE in obj else obj.get(PUSH_NODE)
    if not isinstance(name, str):
        return ProtocolError(f"needs a string `{COMMAND_NODE}` or `{PUSH_NODE}`")
    return Incoming(name, request_id if COMMAND_NODE in obj else None)


def answer(request_id: Any, data: dict[str, float | int]) -> str:
    """The reply Artisan matches to its request by id."""
    return json.dumps({ID_NODE: request_id, DATA_NODE: data}, separators=(",", ":"))


def add_event(event: str) -> str:
    """A push (no id) that makes a recording Artisan mark `event` (e.g. FCS_EVENT)."""
    return json.dumps({PUSH_NODE: ADD_EVENT, DATA_NODE: {EVENT_NODE: event}}, separators=(",", ":"))
