"""models/fbank.py equals ASTFeatureExtractor, and incremental equals a full recompute."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from transformers import ASTFeatureExtractor

from models.backends import FeatureFrontEnd
from models.fbank import FastFbank, FbankError, IncrementalFbank

SR = 16000


def extractor(**kw: object) -> ASTFeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ASTFeatureExtractor(**kw)


def signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a hum and a few clicks: exercises the whole mel range and the log floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = 0.05 * rng.standard_normal(n) + 0.1 * np.sin(2 * np.pi * 150 * np.arange(n) / SR)
    for start in rng.integers(0, n - 200, size=int(seconds * 3)):
        x[start : start + 200] += rng.standard_normal(200) * np.exp(-np.arange(200) / 30)
    x[: SR // 2] = 0.0  # digital silence hits the mel floor
    return x.astype(np.float32)


def reference(ex: ASTFeatureExtractor, window: np.ndarray) -> np.ndarray:
    return ex([window], sampling_rate=SR, return_tensors="np")["input_values"][0]


@pytest.mark.parametrize(
    "kw", [{}, {"num_mel_bins": 64, "max_length": 1000}, {"max_length": 512}]
)
def test_fast_fbank_matches_ast_feature_extractor(kw: dict) -> None:
    """Padding (1024 > 998 frames), exact fit and truncation (512 < 998) all match."""
    ex = extractor(**kw)
    fb = FastFbank(ex)
    window = signal(10.0)
    got = fb(window)[0]
    want = reference(ex, window)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_short_window_is_padded_like_the_extractor() -> None:
    ex = extractor()
    window = signal(3.0, seed=1)
    np.testing.assert_allclose(FastFbank(ex)(window)[0], reference(ex, window), atol=2e-6)


@pytest.mark.parametrize("hop_s", [0.5, 1.0, 3.0, 7.0])
def test_incremental_equals_full_recompute(hop_s: float) -> None:
    ex = extractor()
    fast, inc = FastFbank(ex), IncrementalFbank(ex)
    audio = signal(30.0, seed=2)
    hop = int(hop_s * SR)
    for end in range(10 * SR, len(audio) + 1, hop):
        window = audio[end - 10 * SR : end]
        np.testing.assert_array_equal(inc.features(window), fast(window)[0])
    assert inc.reused_frames > 0  # the overlap was actually found and used


def test_incremental_recomputes_after_jumps_and_odd_offsets() -> None:
    """A jump back, a non-frame-aligned shift and a different stream all stay exact."""
    ex = extractor()
    fast, inc = FastFbank(ex), IncrementalFbank(ex)
    audio = signal(30.0, seed=3)
    other = signal(10.0, seed=4)
    for end in (10 * SR, 13 * SR, 13 * SR + 80, 11 * SR, 20 * SR):
        window = audio[end - 10 * SR : end]
        np.testing.assert_array_equal(inc.features(window), fast(window)[0])
    np.testing.assert_array_equal(inc.features(other), fast(other)[0])


def test_front_end_modes_agree() -> None:
    ex = extractor(num_mel_bins=64, max_length=1000)
    front = FeatureFrontEnd(ex)
    audio = signal(16.0, seed=5)
    batch = np.stack([audio[i * SR : i * SR + 10 * SR] for i in (0, 3, 6)])
    results = {}
    for mode in FeatureFrontEnd.MODES:
        front.mode = mode
        results[mode] = np.concatenate([front.features(w[None]) for w in batch])
    np.testing.assert_allclose(results["incremental"], results["extractor"], atol=2e-6)
    np.testing.assert_array_equal(results["incremental"], results["fast"])
    front.mode = "incremental"
    np.testing.assert_array_equal(front.features(batch), results["fast"])  # batches: fast path


def test_wrong_sample_rate_is_refused() -> None:
    with pytest.raises(FbankError, match="16 kHz"):
        FastFbank(extractor(sampling_rate=8000))
    with pytest.raises(FbankError, match="shape"):
        FastFbank(extractor())(np.zeros((1, 2, 3), np.float32))


def test_front_end_keeps_one_incremental_state_per_roaster() -> None:
    """Batches that mix two roasters' windows, named by stream, reuse each one's frames."""
    ex = extractor()
    front = FeatureFrontEnd(ex)
    a, b = signal(40, seed=1), signal(40, seed=2)
    fast = FastFbank(ex)
    for end in range(160000, len(a) + 1, 48000):
        batch = np.stack([a[end - 160000 : end], b[end - 160000 : end]])
        assert np.allclose(front.features(batch, ["left", "right"]), fast(batch), atol=1e-5)
    streams = front.streams.values()
    reused = sum(s.reused_frames for s in streams)
    computed = sum(s.computed_frames for s in streams)
    assert len(front.streams) == 3  # the unnamed stream and the two roasters
    assert reused > computed  # most frames came from the previous window of the same roaster
