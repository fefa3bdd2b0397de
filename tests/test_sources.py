"""File, simulator and resampler behaviour of `agent.sources` (no audio hardware needed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources import (
    TARGET_RATE,
    AudioSource,
    SourceError,
    SourceStats,
    StreamingResampler,
    open_source,
)

AUDIO = AudioConfig()


def tone(rate: int, seconds: float, freq: float = 1000.0, channels: int = 1) -> np.ndarray:
    """A tone plus a little noise, (frames, channels), amplitude ~0.5."""
    t = np.arange(round(rate * seconds)) / rate
    rng = np.random.default_rng(1)
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    cols = [mono + 0.01 * rng.standard_normal(len(t)) for _ in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def dominant_hz(x: np.ndarray, rate: int = TARGET_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def drain(source: AudioSource) -> np.ndarray:
    chunks = list(source)
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    return np.concatenate(chunks)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
@pytest.mark.parametrize(("rate", "channels"), [(44100, 2), (8000, 1)])
def test_file_source_converts_to_16k_mono(
    tmp_path: Path, fmt: str, rate: int, channels: int
) -> None:
    """Any rate/channel layout comes out as 16 kHz mono with the same duration and pitch."""
    seconds = 1.5
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, tone(rate, seconds, channels=channels), rate)
    source = open_source(f"file:{path}", AUDIO, speed=0)
    assert not source.realtime
    out = drain(source)
    assert abs(len(out) - seconds * TARGET_RATE) <= 4
    assert dominant_hz(out) == pytest.approx(1000.0, abs=2.0)
    assert 0.3 < float(np.sqrt(np.mean(out**2))) < 0.4  # 0.5/sqrt(2): no gain or channel loss
    assert source.stats() == SourceStats(overruns=0, reopens=0, dropped_blocks=0)


def test_stereo_is_mixed_down_by_mean(tmp_path: Path) -> None:
    """Opposite-phase channels cancel: mixdown is the mean, not the left channel."""
    left = tone(16000, 0.5)
    path = tmp_path / "antiphase.wav"
    sf.write(path, np.concatenate([left, -left], axis=1), 16000, subtype="FLOAT")
    out = drain(open_source(f"file:{path}", AUDIO, speed=0))
    assert np.max(np.abs(out)) < 1e-6


def test_file_at_16k_is_passed_through_exactly(tmp_path: Path) -> None:
    data = tone(16000, 0.7)[:, 0]
    path = tmp_path / "exact.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    out = drain(open_source(f"file:{path}", AUDIO, speed=0, block_s=0.03))
    np.testing.assert_array_equal(out, data)


def test_pacing_at_speed_20_is_not_faster_than_requested(tmp_path: Path) -> None:
    """At 20x a 2 s file can't finish before ~0.1 s (lower bound only: CI machines are slow)."""
    path = tmp_path / "two_seconds.wav"
    sf.write(path, tone(22050, 2.0), 22050)
    source = open_source(f"file:{path}", AUDIO, speed=20)
    assert source.realtime
    started = time.monotonic()
    out = drain(source)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.7 * 2.0 / 20
    assert abs(len(out) - 2 * TARGET_RATE) <= 4


def test_close_from_another_thread_ends_iteration(tmp_path: Path) -> None:
    """A real-time replay of a 30 s file stops promptly when closed mid-stream."""
    path = tmp_path / "long.wav"
    sf.write(path, tone(16000, 30.0), 16000)
    source = open_source(f"file:{path}", AUDIO, speed=1.0)
    got_first = threading.Event()
    received: list[int] = []

    def consume() -> None:
        for chunk in source:
            received.append(len(chunk))
            got_first.set()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert got_first.wait(10), "no chunk within 10 s"
    source.close()
    worker.join(timeout=5)
    assert not worker.is_alive(), "iteration did not end after close()"
    assert sum(received) < 30 * TARGET_RATE
    assert list(source) == []  # closed sources stay closed


def test_corrupt_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(SourceError, match="corrupt.wav"):
        open_source(f"file:{path}", AUDIO)


def test_missing_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.flac"
    with pytest.raises(SourceError, match="nope.flac"):
        open_source(f"file:{path}", AUDIO)


@pytest.mark.parametrize("kind", ["zero_bytes", "no_frames"])
def test_empty_file_is_a_source_error_naming_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "empty.wav"
    if kind == "zero_bytes":
        path.write_bytes(b"")
    else:
        sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(SourceError, match="empty.wav"):
        open_source(f"file:{path}", AUDIO)


def test_directory_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=str(tmp_path)):
        open_source(f"file:{tmp_path}", AUDIO)


@pytest.mark.parametrize("spec", ["", "speaker", "file:", "sim:abc", "mic:", "http://x"])
def test_bad_spec_is_a_source_error_listing_the_forms(spec: str) -> None:
    with pytest.raises(SourceError) as info:
        open_source(spec, AUDIO)
    message = str(info.value)
    assert repr(spec) in message or "abc" in message
    if "sim:abc" not in spec:
        assert "file:PATH" in message and "sim:SEED" in message


def test_negative_speed_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    sf.write(path, tone(16000, 0.2), 16000)
    with pytest.raises(SourceError, match="speed"):
        open_source(f"file:{path}", AUDIO, speed=-1)


def test_sim_source_yields_the_simulators_audio_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sim:3` streams simulate_roast(3) sample for sample (spied, so it renders only once)."""
    simulator = pytest.importorskip("firstcrack.models.sim.simulator")
    real = simulator.simulate_roast
    rendered: list[tuple[int, np.ndarray]] = []

    def spy(seed: int, *args: object, **kwargs: object) -> tuple[np.ndarray, object]:
        audio, truth = real(seed, *args, **kwargs)
        rendered.append((seed, audio.copy()))
        return audio, truth

    monkeypatch.setattr(simulator, "simulate_roast", spy)
    source = open_source("sim:3", AUDIO, speed=0, block_s=0.5)
    assert source.name == "sim:3" and not source.realtime
    out = drain(source)
    assert [seed for seed, _ in rendered] == [3]
    assert len(out) > 500 * TARGET_RATE  # a full-length roast, not a stub
    np.testing.assert_array_equal(out, rendered[0][1])


def test_sim_seed_the_simulator_rejects_is_a_source_error() -> None:
    pytest.importorskip("firstcrack.models.sim.simulator")
    with pytest.raises(SourceError, match="sim:-5"):
        open_source("sim:-5", AUDIO)


# --- streaming resampler -------------------------------------------------------------


@pytest.mark.parametrize("in_rate", [8000, 11025, 22050, 32000, 44100, 48000, 96000])
def test_chunked_resampling_equals_one_shot(in_rate: int) -> None:
    """Chunk boundaries are invisible: random chunk sizes give resample_poly's output, to
    float32 rounding (the filter and polyphase sums are agent.core.dsp's numpy, not scipy's)."""
    rng = np.random.default_rng(in_rate)
    x = tone(in_rate, 1.0)[:, 0]
    resampler = StreamingResampler(in_rate, TARGET_RATE)
    pieces, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 700))
        pieces.append(resampler.process(x[i : i + n]))
        i += n
    pieces.append(resampler.flush())
    chunked = np.concatenate(pieces)
    whole = resample_poly(x.astype(np.float64), resampler.up, resampler.down)
    assert len(chunked) == len(whole)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_resampled_48k_sine_has_the_right_frequency_and_no_clicks() -> None:
    x = tone(48000, 2.0, freq=440.0)[:, 0]
    resampler = StreamingResampler(48000)
    out = np.concatenate(
        [resampler.process(x[i : i + 480]) for i in range(0, len(x), 480)] + [resampler.flush()]
    )
    assert len(out) == 2 * TARGET_RATE
    assert dominant_hz(out) == pytest.approx(440.0, abs=1.0)
    settled = out[200:-200]
    # a click would show up as a large sample-to-sample jump; a 440 Hz sine of 0.5
    # at 16 kHz changes by at most 2*pi*440/16000*0.5 ~ 0.086 per sample (+ noise)
    assert np.max(np.abs(np.diff(settled))) < 0.15


def test_resampler_rejects_bad_rates() -> None:
    with pytest.raises(ValueError):
        StreamingResampler(0)


# --- microphone logic without hardware ------------------------------------------------
