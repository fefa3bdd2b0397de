"""Channel picking and the shared multi-channel capture used by several roasters."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.config import AudioConfig
from agent.sources import SourceError, SourceStats, open_source
from agent.sources.channels import ChannelFanout, MultiResampler, downmixer


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
