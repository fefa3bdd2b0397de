"""The microphone path for real: PortAudio records a PulseAudio null sink's monitor.

Audio played with `paplay` into the null sink must come out of
`open_source("mic:pulse")` as 16 kHz mono, and killing the daemon mid-capture
must turn into logged reopen attempts, never an exception, with capture
resuming once the daemon is back. With two devices (two null sinks' monitors),
losing one must not interrupt the other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources import TARGET_RATE, AudioSource, SourceError, open_source
from tests.pulse_fixtures import PulseServer, reinit_portaudio, running_pulse_server

pytestmark = pytest.mark.integration

AUDIO = AudioConfig(block_s=0.05, queue_s=5.0)
GAP_ALLOWANCE_S = 0.5
"""Scheduling slack on top of one block for a chunk's arrival (CI machines are busy)."""


class Recorder:
    """Iterates a source on a thread, keeping every chunk; records a crash if one happens."""

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self.chunks: list[np.ndarray] = []
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, samples) per chunk
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for chunk in self.source:
                now = time.monotonic()
                with self._lock:
                    self.chunks.append(chunk)
                    self.arrivals.append((now, len(chunk)))
        except BaseException as exc:  # the test asserts there is none
            self.error = exc

    def samples(self) -> int:
        with self._lock:
            return sum(len(c) for c in self.chunks)

    def audio_since(self, start: int) -> np.ndarray:
        with self._lock:
            audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        return audio[start:]

    def flow_between(self, start: float, end: float) -> tuple[float, int]:
        """Longest wait for a chunk within [start, end] (edges count) and samples received."""
        with self._lock:
            inside = [(t, n) for t, n in self.arrivals if start <= t <= end]
        times = [start, *(t for t, _ in inside), end]
        return float(np.max(np.diff(times))), sum(n for _, n in inside)

    def stop(self) -> None:
        self.source.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "iteration did not end after close()"
        assert self.error is None, f"source crashed: {self.error!r}"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def dominant_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * TARGET_RATE / len(x))


def write_tone(path: Path, seconds: float = 1.5, freq: float = 1000.0) -> Path:
    t = np.arange(round(48000 * seconds)) / 48000
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 48000)
    return path


def play_and_capture(server: PulseServer, rec: Recorder, wav: Path) -> np.ndarray:
    """Play `wav` into the sink while recording; the 16 kHz audio captured meanwhile."""
    # start a little early: audio can reach the sink monitor before our counter moves
    start = max(0, rec.samples() - TARGET_RATE // 2)
    player = server.play(wav)
    _, err = player.communicate(timeout=30)
    assert player.returncode == 0, f"paplay failed: {err!r}"
    played_s = sf.info(str(wav)).duration
    # the device latency is well under a second; wait until that much more audio arrived
    wait_for(lambda: rec.samples() - start > (played_s + 1.5) * TARGET_RATE, 15, "tail audio")
    return rec.audio_since(start)


@pytest.fixture
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    yield from running_pulse_server(tmp_path_factory)


@pytest.fixture
def recorder(pulse_server: PulseServer) -> Iterator[Recorder]:
    source = open_source("mic:pulse", AUDIO)
    assert source.realtime and "pulse" in source.name
    rec = Recorder(source)
    wait_for(lambda: rec.samples() > 0, 15, "the first captured chunk")
    yield rec
    rec.stop()


def test_played_tone_is_captured_at_16k(
    pulse_server: PulseServer,
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    """A 1 kHz tone played into the sink is recorded as a 1 kHz tone at 16 kHz mono."""
    quiet = recorder.audio_since(0)
    assert float(np.sqrt(np.mean(quiet**2))) < 1e-3  # the idle null sink is silent
    captured = play_and_capture(pulse_server, recorder, write_tone(tmp_path / "tone.wav"))
    assert captured.dtype == np.float32 and captured.ndim == 1
    rms = float(np.sqrt(np.mean(captured**2)))
    assert rms > 0.1, f"tone not captured (rms {rms:.4f})"
    assert dominant_hz(captured) == pytest.approx(1000.0, abs=3.0)
    stats = recorder.source.stats()
    assert stats.reopens == 0 and stats.dropped_blocks == 0


def test_simulated_roast_survives_the_round_trip(
    pulse_server: PulseServer,
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    """Roast audio played through PulseAudio comes back as (nearly) the same waveform."""
    simulator = pytest.importorskip("firstcrack.models.sim.simulator")
    roast, _ = simulator.simulate_roast(1, duration_s=20, crack=False)
    excerpt = roast[5 * TARGET_RATE : 8 * TARGET_RATE]
    wav = tmp_path / "roast.wav"
    sf.write(wav, excerpt, TARGET_RATE, subtype="FLOAT")
    captured = play_and_capture(pulse_server, recorder, wav).astype(np.float64)
    ref = excerpt.astype(np.float64)
    # find the playback delay by cross-correlation, then compare the aligned waveforms
    corr = np.correlate(captured, ref, mode="valid")
    lag = int(np.argmax(corr))
    aligned = captured[lag : lag + len(ref)]
    inner = slice(TARGET_RATE // 10, -TARGET_RATE // 10)  # edges see resampler ramps
    similarity = np.corrcoef(aligned[inner], ref[inner])[0, 1]
    assert similarity > 0.9, f"captured audio differs from what was played (r={similarity:.3f})"


def test_daemon_loss_means_reopen_attempts_then_recovery(
    pulse_server: PulseServer,
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    """Killing PulseAudio mid-capture never crashes the source: it retries, then resumes."""
    pulse_server.kill()
    wait_for(lambda: recorder.source.stats().reopens >= 2, 20, "two reopen attempts")
    assert recorder.thread.is_alive() and recorder.error is None
    pulse_server.start()
    before = recorder.samples()
    wait_for(lambda: recorder.samples() > before + TARGET_RATE // 2, 30, "capture to resume")
    captured = play_and_capture(pulse_server, recorder, write_tone(tmp_path / "t.wav", freq=700))
    assert dominant_hz(captured) == pytest.approx(700.0, abs=3.0)
    assert recorder.error is None


def test_unknown_device_lists_the_inputs(pulse_server: PulseServer) -> None:
    with pytest.raises(SourceError, match=r"no input device matching 'no-such-mic'.*pulse"):
        open_source("mic:no-such-mic", AUDIO)
    with pytest.raises(SourceError, match="index 9999"):
        open_source("mic:9999", AUDIO)


@pytest.fixture
def two_devices(pulse_server: PulseServer) -> dict[str, str]:
    """ALSA devices fcmic_a and fcmic_b on two null sinks; their module ids by device name."""
    modules = {}
    for name, sink in (("fcmic_a", "fca"), ("fcmic_b", "fcb")):
        modules[name] = pulse_server.load_null_sink(sink)
        pulse_server.alsa_input(name, sink)
    assert reinit_portaudio(), "PortAudio not re-initialised: a stream is still open"
    return modules


def test_losing_one_device_leaves_the_other_streaming(
    pulse_server: PulseServer, two_devices: dict[str, str]
) -> None:
    """Two roasters, two devices: unplugging one (unloading its sink) never stalls the other.

    The lost one retries (reopens counted) without re-initialising PortAudio,
    which would end every stream in the process, and comes back on its own
    once its source is back. The survivor's longest wait for a chunk while
    the other is lost and retrying must stay under one block plus a generous
    scheduling allowance, well below the 2 s it takes to notice a dead stream.
    """
    lost = Recorder(open_source("mic:fcmic_a", AUDIO))
    kept = Recorder(open_source("mic:fcmic_b", AUDIO))
    try:
        for rec in (lost, kept):
            wait_for(lambda rec=rec: rec.samples() > TARGET_RATE // 2, 15, "both capturing")
        unplugged = time.monotonic()
        pulse_server.unload_module(two_devices["fcmic_a"])
        wait_for(lambda: lost.source.stats().reopens >= 3, 20, "three reopen attempts")
        retried = time.monotonic()
        max_gap, samples = kept.flow_between(unplugged, retried)
        limit = AUDIO.block_s + GAP_ALLOWANCE_S
        print(f"surviving stream: max gap {max_gap * 1000:.0f} ms over {retried - unplugged:.1f} s")
        assert max_gap < limit, f"surviving stream waited {max_gap:.2f} s for a chunk"
        assert samples >= (retried - unplugged - limit) * TARGET_RATE
        assert kept.source.stats().reopens == 0
        assert lost.thread.is_alive() and lost.error is None

        pulse_server.load_null_sink("fca")  # plugged back in: found without re-initialising
        before = lost.samples()
        wait_for(lambda: lost.samples() > before + TARGET_RATE // 2, 30, "the lost one to resume")
        assert kept.source.stats().reopens == 0
    finally:
        lost.stop()
        kept.stop()
