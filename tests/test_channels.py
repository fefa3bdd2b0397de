"""Channel picking and the shared multi-channel capture used by several roasters."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources import CaptureError, SourceError, SourceStats, open_source
from firstcrack.agent.sources.channels import ChannelFanout, MultiResampler, downmixer


def test_file_channel_is_picked_not_mixed(tmp_path: Path) -> None:
    t = np.arange(16000 * 2) / 16000
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1)
    path = tmp_path / "two.wav"
    sf.write(path, stereo, 16000, subtype="FLOAT")
    left = np.concatenate(list(open_source(f"file:{path}", AudioConfig(), speed=0, channel=0)))
    right = np.concatenate(list(open_source(f"file:{path}", AudioConfig(), speed=0, channel=1)))
    mixed = np.concatenate(list(open_source(f"file:{path}", AudioConfig(), speed=0)))
    assert np.allclose(left, stereo[:, 0], atol=1e-6)
    assert np.abs(right).max() == 0.0
    assert np.allclose(mixed, stereo[:, 0] / 2, atol=1e-6)
    with pytest.raises(SourceError, match="channel 2 does not exist"):
        open_source(f"file:{path}", AudioConfig(), channel=2)


def test_downmixer_validates_channel() -> None:
    with pytest.raises(SourceError, match="has 1 channel"):
        downmixer(1, 1, "dev")


def test_multi_resampler_matches_per_channel_resampling() -> None:
    rng = np.random.default_rng(0)
    block = rng.standard_normal((4800, 3)).astype(np.float32)
    chunked = MultiResampler(48000, 3)
    out = np.concatenate([chunked.process(b) for b in np.split(block, 4)])
    single = MultiResampler(48000, 3).process(block)
    assert out.shape == single.shape and out.shape[1] == 3
    assert np.allclose(out, single, atol=1e-5)
    assert np.allclose(out[:, 1], MultiResampler(48000, 1).process(block[:, 1:2])[:, 0], atol=1e-5)


def test_fanout_gives_each_roaster_its_channel_and_one_capture() -> None:
    """Two roasters on one 2-channel capture: each sees only its channel; one close stops it."""
    blocks = [
        np.stack([np.full(100, i, np.float32), np.full(100, -i, np.float32)], 1)
        for i in range(1, 21)
    ]
    closed = threading.Event()
    fanout = ChannelFanout("mic:test", iter(blocks), closed.set, lambda: SourceStats(0, 0, 0))
    a, b = fanout.source(0), fanout.source(1)
    got_a = np.concatenate(list(a))
    got_b = np.concatenate(list(b))
    assert np.array_equal(got_a, np.repeat(np.arange(1, 21, dtype=np.float32), 100))
    assert np.array_equal(got_b, -got_a)
    a.close()
    assert not closed.is_set()
    b.close()
    assert closed.is_set()


def crashing_capture(blocks: int, error: BaseException) -> Iterator[np.ndarray]:
    """A 2-channel capture: `blocks` blocks (channel 0 is i, channel 1 is -i), then a crash."""
    for i in range(1, blocks + 1):
        yield np.stack([np.full(100, i, np.float32), np.full(100, -i, np.float32)], 1)
    raise error


def test_a_crash_in_the_shared_capture_is_raised_by_every_roaster() -> None:
    """Each roaster gets the blocks captured before the crash, then a CaptureError caused by it.

    Not a SourceError: the CLI would call that a usage problem (exit 2).
    """
    crash = OSError("USB transfer error")
    fanout = ChannelFanout(
        "mic:test", crashing_capture(3, crash), lambda: None, lambda: SourceStats(0, 0, 0)
    )
    results: dict[int, tuple[list[float], BaseException | None]] = {}
    children = {channel: fanout.source(channel) for channel in (0, 1)}

    def consume(channel: int) -> None:
        got: list[float] = []
        try:
            for block in children[channel]:
                got.append(float(block[0]))
        except BaseException as exc:
            results[channel] = (got, exc)
        else:
            results[channel] = (got, None)

    threads = [threading.Thread(target=consume, args=(c,)) for c in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    for channel, sign in ((0, 1.0), (1, -1.0)):
        got, error = results[channel]
        assert got == [sign * i for i in (1, 2, 3)]
        assert isinstance(error, CaptureError) and not isinstance(error, SourceError)
        assert error.__cause__ is crash and "USB transfer error" in str(error)


def test_a_crash_is_raised_even_when_the_roasters_queue_was_full() -> None:
    """A slow roaster whose queue is full still ends with the error, never a quiet end."""
    fanout = ChannelFanout(
        "mic:test",
        crashing_capture(5, RuntimeError("boom")),
        lambda: None,
        lambda: SourceStats(0, 0, 0),
        max_blocks=2,
    )
    child = fanout.source(0)
    fanout.start()
    deadline = time.monotonic() + 5
    while not fanout.finished:
        assert time.monotonic() < deadline, "the capture did not end"
        time.sleep(0.01)
    got: list[float] = []
    with pytest.raises(CaptureError, match="boom"):
        for block in child:
            got.append(float(block[0]))
    assert got == [1.0, 2.0]
    assert child.stats().dropped_blocks == 3


CRASHING_MIC_RUN = """
import sys
import numpy as np
import firstcrack.agent.sources.mic as mic
from firstcrack.agent.cli import main
from firstcrack.agent.sources import SourceStats


class CrashingMic:
    realtime = True

    def __init__(self, device, audio, channel=None):
        self.name = f"mic:{device}"

    def frames(self):
        for _ in range(5):
            yield np.zeros((1600, 2), np.float32)
        raise OSError("USB transfer error")

    def close(self):
        pass

    def stats(self):
        return SourceStats(0, 0, 0)


mic.MicSource = CrashingMic
sys.exit(main(sys.argv[1:]))
"""


def test_run_exits_1_when_a_shared_capture_crashes(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Two roasters on two channels of one (fake) mic whose capture crashes: `run` fails."""
    config = tmp_path / "two.yaml"
    config.write_text(
        "roasters:\n"
        "  - {agent_id: left, source: 'mic:fake', channel: 0}\n"
        "  - {agent_id: right, source: 'mic:fake', channel: 1}\n"
    )
    argv = ["run", "--config", str(config), "--model", str(tiny_model_dir), "--no-mqtt"]
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_MIC_RUN, *argv, "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "FIRSTCRACK_STATE_DIR": str(tmp_path / "state")},
    )
    assert proc.returncode == 1, proc.stderr
    assert "CaptureError" in proc.stderr and "USB transfer error" in proc.stderr
