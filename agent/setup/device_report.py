"""`firstcrack devices`: the input devices PortAudio sees, and a live level meter on one.

The table shows what a device name or index in `audio.device`, `run --source
mic:DEVICE` or `roasters[].source` resolves against: the same PortAudio list,
filtered to devices that can record (`firstcrack.agent.sources.devices.input_devices`).

The meter redraws one line about five times a second with carriage returns
when stdout is a terminal. When it is not (a pipe, a log file, a test), it
prints a plain line once a second instead, so a log is readable and has no
`\\r` in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from firstcrack.agent.core.scoring import SILENCE_FLOOR_DBFS
from firstcrack.agent.setup.capture import Measurement, measure
from firstcrack.agent.setup.levels import LevelStats, fmt_db
from firstcrack.agent.sources.devices import STREAMS, input_devices, load_sounddevice

TICK_S = 0.2
"""Meter refresh period on a terminal (about five updates a second)."""
PLAIN_EVERY_S = 1.0
"""Seconds between lines of the meter when stdout is not a terminal."""
BAR_WIDTH = 30
BAR_FLOOR_DBFS = -70.0
"""The left end of the meter bar: the agent's default silence gate (detector.silence_dbfs)."""


@dataclass(frozen=True)
class DeviceRow:
    """One input device as the table shows it."""

    index: int
    name: str
    host_api: str
    default_rate: float
    inputs: int
    is_default: bool


def list_devices(sd: Any | None = None) -> list[DeviceRow]:
    """Every device that can record, with its host API and whether it is the default input."""
    sd = sd or load_sounddevice()
    with STREAMS.held():
        devices = input_devices(sd)
        apis = [dict(api)["name"] for api in sd.query_hostapis()]
        try:
            default = int(sd.query_devices(kind="input")["index"])
        except (sd.PortAudioError, ValueError):
            default = -1  # no default input
    return [
        DeviceRow(
            index=int(d["index"]),
            name=str(d["name"]),
            host_api=apis[d["hostapi"]] if 0 <= d["hostapi"] < len(apis) else "?",
            default_rate=float(d["default_samplerate"]),
            inputs=int(d["max_input_channels"]),
            is_default=int(d["index"]) == default,
        )
        for d in devices
    ]


def format_devices(rows: list[DeviceRow]) -> str:
    """The device table, or a hint when there is nothing to record from."""
    if not rows:
        return (
            "no input devices found. Check that the microphone is plugged in and listed by "
            "`arecord -l`, that this user may record (the `audio` group), and in a container "
            "that the sound device is passed in (`--device /dev/snd`)."
        )
    width = max(len("name"), *(len(r.name) for r in rows))
    api_width = max(len("host API"), *(len(r.host_api) for r in rows))
    lines = [f"  {'index':>5}  {'name':<{width}}  {'host API':<{api_width}}  "
             f"{'default rate':>12}  {'inputs':>6}"]  # fmt: skip
    for r in rows:
        mark = "*" if r.is_default else " "
        lines.append(
            f"{mark} {r.index:>5}  {r.name:<{width}}  {r.host_api:<{api_width}}  "
            f"{r.default_rate:>9.0f} Hz  {r.inputs:>6}"
        )
    lines.append(
        "* default input. Name a device by index or by part of its name: audio.device in "
        "agent.yaml, `run --source mic:NAME`, or `firstcrack devices --meter NAME` to check "
        "its level."
    )
    return "\n".join(lines)


def meter_line(elapsed_s: float, stats: LevelStats) -> str:
    """`  2.4 s  RMS -23.1 dBFS  peak  -8.0 dBFS  |#########......|` (bar: RMS, `!` peak)."""
    span = -BAR_FLOOR_DBFS

    def column(level: float) -> int:
        return max(0, min(BAR_WIDTH, round((level - BAR_FLOOR_DBFS) / span * BAR_WIDTH)))

    filled = column(stats.rms_dbfs)
    bar = ["#"] * filled + ["."] * (BAR_WIDTH - filled)
    peak = column(stats.peak_dbfs)
    if stats.peak_dbfs > SILENCE_FLOOR_DBFS and peak > 0:
        bar[peak - 1] = "!" if stats.clipped else "|"
    return (
        f"{elapsed_s:5.1f} s  RMS {fmt_db(stats.rms_dbfs):>10}  peak {fmt_db(stats.peak_dbfs):>10}"
        f"  [{''.join(bar)}]"
    )


class MeterDisplay:
    """Draws the meter on `out`: redrawn in place on a terminal, a line a second otherwise."""

    def __init__(self, out: TextIO, interactive: bool | None = None) -> None:
        self._out = out
        self._interactive = out.isatty() if interactive is None else interactive
        self._pending = LevelStats()
        self._next_plain = PLAIN_EVERY_S
        self._drawn = False

    def tick(self, elapsed_s: float, stats: LevelStats) -> None:
        if self._interactive:
            self._out.write("\r" + meter_line(elapsed_s, stats))
            self._out.flush()
            self._drawn = True
            return
        # Plain output: one line per second, over everything since the previous line.
        merged = self._pending
        merged.samples += stats.samples
        merged.sum_squares += stats.sum_squares
        merged.peak = max(merged.peak, stats.peak)
        merged.clipped += stats.clipped
        if elapsed_s + 1e-9 >= self._next_plain:
            self._out.write(meter_line(elapsed_s, merged) + "\n")
            self._pending = LevelStats()
            self._next_plain += PLAIN_EVERY_S

    def finish(self) -> None:
        if self._interactive and self._drawn:
            self._out.write("\n")
        self._out.flush()


def run_meter(
    device: str | int, seconds: float, out: TextIO, channel: int | None = None
) -> Measurement:
    """Show the live meter on `out` for `seconds`, then the summary; the measurement.

    Raises SourceError (a user error, exit 2) for an unknown device, listing the inputs.
    """
    display = MeterDisplay(out)
    try:
        result = measure(device, seconds, channel=channel, on_tick=display.tick, tick_s=TICK_S)
    finally:
        display.finish()
    out.write(meter_report(result) + "\n")
    return result


def meter_report(result: Measurement) -> str:
    """The summary after the meter: device, levels, clipping, and a verdict."""
    lines = [
        f"device {result.describe()}: {result.seconds:.1f} s measured",
        f"  {result.stats.summary()}",
    ]
    if result.dropped_blocks:
        lines.append(f"  {result.dropped_blocks} blocks dropped (the machine is busy)")
    warnings = result.stats.warnings()
    lines += [f"WARNING: {w}" for w in warnings]
    if not warnings:
        lines.append("level OK for hearing first crack")
    return "\n".join(lines)
