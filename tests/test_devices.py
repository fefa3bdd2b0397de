"""`firstcrack devices`: the device table and the level meter, on a real PulseAudio null sink.

A tone played into the null sink is what PortAudio's `pulse` device records
(its default source is the sink's monitor, tests/pulse_fixtures.py), so the
meter must read the level that was played; with nothing playing the monitor is
digital silence and the meter must warn. The level arithmetic and the
terminal redraw are checked without a device.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.cli import main
from firstcrack.agent.setup.device_report import MeterDisplay, meter_line, run_meter
from firstcrack.agent.setup.levels import CLIP_LEVEL, LOW_PEAK_DBFS, LevelStats, fmt_db
from tests.pulse_fixtures import PulseServer, running_pulse_server

AMPLITUDE = 0.5
TONE_RMS_DBFS = 20 * np.log10(AMPLITUDE / np.sqrt(2))  # -9.03
TONE_PEAK_DBFS = 20 * np.log10(AMPLITUDE)  # -6.02


@pytest.fixture
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    yield from running_pulse_server(tmp_path_factory)


def write_tone(path: Path, seconds: float, amplitude: float = AMPLITUDE) -> Path:
    t = np.arange(round(48000 * seconds)) / 48000
    sf.write(path, (amplitude * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), 48000)
    return path


@pytest.fixture
def playing(pulse_server: PulseServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A 1 kHz tone at -6 dBFS peak playing into the null sink for the whole test."""
    player = pulse_server.play(write_tone(tmp_path / "tone.wav", seconds=30))
    time.sleep(0.5)  # let the stream reach the sink before anything measures
    yield player
    player.kill()
    player.wait(timeout=10)


# --- with a real device -------------------------------------------------------------------


@pytest.mark.integration
def test_devices_lists_the_inputs_and_marks_the_default(
    pulse_server: PulseServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == ["index", "name", "host", "API", "default", "rate", "inputs"]
    pulse = [r for r in rows if " pulse " in f"{r} "]
    assert pulse, out
    cells = pulse[0].lstrip("* ").split()
    assert cells[0].isdigit() and cells[1] == "pulse" and cells[2] == "ALSA"
    assert cells[4] == "Hz" and float(cells[3]) >= 8000 and int(cells[5]) >= 1
    assert any(r.startswith("*") for r in rows), "the default input is marked"
    assert "* default input" in out


@pytest.mark.integration
def test_meter_reads_the_level_that_was_played(
    pulse_server: PulseServer, playing: subprocess.Popen[bytes]
) -> None:
    out = io.StringIO()  # not a terminal: plain lines, no carriage returns
    result = run_meter("pulse", 2.0, out)
    text = out.getvalue()
    assert result.name == "pulse" and result.seconds == pytest.approx(2.0, abs=0.05)
    assert result.stats.rms_dbfs == pytest.approx(TONE_RMS_DBFS, abs=1.5), text
    assert result.stats.peak_dbfs == pytest.approx(TONE_PEAK_DBFS, abs=1.0), text
    assert result.stats.clipped == 0
    assert "\r" not in text
    live = [line for line in text.splitlines() if line.strip().endswith("]")]
    assert len(live) == 2, text  # one line a second
    assert "level OK for hearing first crack" in text and "WARNING" not in text


@pytest.mark.integration
def test_meter_on_a_silent_source_warns_too_low(
    pulse_server: PulseServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "--meter", "pulse", "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    assert "RMS -inf dBFS, peak -inf dBFS" in out
    assert "WARNING: the input is digital silence" in out


@pytest.mark.integration
def test_meter_on_a_missing_device_lists_the_inputs(
    pulse_server: PulseServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices", "--meter", "no-such-mic", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "no input device matching 'no-such-mic'" in err
    assert "pulse" in err and "index" in err  # the table of what exists


# --- without a device ---------------------------------------------------------------------


def test_level_stats_of_a_known_signal() -> None:
    stats = LevelStats()
    t = np.arange(16000) / 16000
    stats.add((0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None])
    assert stats.rms_dbfs == pytest.approx(-23.01, abs=0.05)
    assert stats.peak_dbfs == pytest.approx(-20.0, abs=0.01)
    assert stats.clipped == 0 and not stats.warnings()


def test_quiet_input_warns_and_so_does_clipping() -> None:
    quiet = LevelStats()
    quiet.add(np.full(1000, 10 ** (LOW_PEAK_DBFS / 20) * 0.9, np.float32))  # peak -40.9 dBFS
    [warning] = quiet.warnings()
    assert warning.startswith("level too low to hear pops") and "-40.9 dBFS" in warning
    loud = LevelStats()
    block = np.zeros(10000, np.float32)
    block[:3] = [CLIP_LEVEL, -1.0, 0.5]
    loud.add(block)
    [warning] = loud.warnings()
    assert loud.clipped == 2 and warning.startswith("clipping: 2 samples (0.020 %)")
    silent = LevelStats()
    silent.add(np.zeros(100, np.float32))
    assert silent.silent and fmt_db(silent.rms_dbfs) == "-inf dBFS"


def test_meter_redraws_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    display = MeterDisplay(out, interactive=True)
    stats = LevelStats()
    stats.add(np.full(100, 0.1, np.float32))
    for tick in range(1, 6):
        display.tick(0.2 * tick, stats)
    display.finish()
    text = out.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert meter_line(1.0, stats) in text
    assert "RMS -20.0 dBFS  peak -20.0 dBFS  [####################|...." in text
