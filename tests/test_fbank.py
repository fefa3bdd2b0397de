"""models/inference/fbank.py equals ASTFeatureExtractor, and incremental equals a full recompute.

The project's features are built from the plain-JSON `FeatureConfig` with our own mel
filters and window (models/inference/features.py); transformers appears here only as the
reference they must match: on synthetic signals, on real popcorn recordings and on
simulated roasts, for the demo model's configuration and the published AST layout.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from transformers import ASTFeatureExtractor
from transformers.audio_utils import mel_filter_bank, window_function

from firstcrack.models.inference.classifier import AST_DEMO_MODEL_DIR
from firstcrack.models.inference.fbank import FastFbank, FbankError, IncrementalFbank
from firstcrack.models.inference.features import (
    FeatureConfig,
    FeatureConfigError,
    hann_window,
    kaldi_mel_filters,
)
from firstcrack.models.inference.frontend import FeatureFrontEnd

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
    front = FeatureFrontEnd.from_extractor(ex)
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
    front = FeatureFrontEnd.from_extractor(ex)
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


# --- the configuration and filter bank without transformers ------------------------------

POPCORN = [AST_DEMO_MODEL_DIR.parent / "data/popcorn" / f"Popcorn200v{i}.flac" for i in (1, 2)]
PUBLISHED = {"num_mel_bins": 128, "max_length": 1024, "mean": -4.2677393, "std": 4.5689974}
"""The published checkpoint's layout (AudioSet AST): 128 mel bins x 1024 frames."""
FEATURE_BOUND = 1e-4
"""Max |ours - ASTFeatureExtractor| over every feature value (normalised log-mel)."""


@pytest.mark.parametrize("bins", [32, 64, 128])
def test_mel_filters_and_window_equal_transformers(bins: int) -> None:
    """Our numpy filter bank and window are the extractor's, bit for bit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 128 bins: the known all-zero lowest filters
        want = mel_filter_bank(num_frequency_bins=257, num_mel_filters=bins, min_frequency=20,
                               max_frequency=SR // 2, sampling_rate=SR, norm=None,
                               mel_scale="kaldi", triangularize_in_mel_space=True)
    np.testing.assert_array_equal(kaldi_mel_filters(bins, SR), want)
    np.testing.assert_array_equal(hann_window(400), window_function(400, "hann", periodic=False))


def test_feature_config_reads_the_demo_preprocessor_file() -> None:
    path = AST_DEMO_MODEL_DIR / "onnx/int8/preprocessor_config.json"
    cfg = FeatureConfig.from_file(path)
    raw = json.loads(path.read_text())
    assert (cfg.sampling_rate, cfg.num_mel_bins, cfg.max_length) == (
        raw["sampling_rate"], raw["num_mel_bins"], raw["max_length"])
    assert (cfg.mean, cfg.std, cfg.do_normalize) == (raw["mean"], raw["std"], raw["do_normalize"])
    assert FeatureConfig.from_extractor(extractor(**raw)) == cfg
    assert FeatureConfig.from_dict({}) == FeatureConfig.from_extractor(extractor())  # defaults


@pytest.mark.parametrize("bad, fragment", [
    ({"feature_extractor_type": "WhisperFeatureExtractor"}, "feature_extractor_type"),
    ({"num_mel_bins": "128"}, "num_mel_bins must be int"),
    ({"max_length": 10.5}, "max_length must be int"),
    ({"max_length": 0}, "max_length must be a positive"),
    ({"feature_size": 2}, "mono"),
    ({"std": 0.0}, "std must be > 0"),
    ({"do_normalize": 1}, "do_normalize must be bool"),
])
def test_feature_config_refuses_what_it_cannot_compute(bad: dict, fragment: str) -> None:
    with pytest.raises(FeatureConfigError, match=fragment):
        FeatureConfig.from_dict(bad)


def test_feature_config_file_errors_name_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "preprocessor_config.json"
    path.write_text("[1, 2]")
    with pytest.raises(FeatureConfigError, match="not a JSON object"):
        FeatureConfig.from_file(path)
    path.write_text("{")
    with pytest.raises(FeatureConfigError, match=str(path)):
        FeatureConfig.from_file(path)


def test_front_end_from_config_alone_has_no_extractor_mode() -> None:
    front = FeatureFrontEnd(FeatureConfig(num_mel_bins=32, max_length=1000))
    assert front.mode == "incremental" and front.extractor is None
    assert front.window_samples == 160_000
    front.mode = "extractor"
    with pytest.raises(ValueError, match="ASTFeatureExtractor"):
        front.features(signal(1.0))
    with pytest.raises(FbankError, match="16 kHz"):
        FeatureFrontEnd(FeatureConfig(sampling_rate=8000))


def _real_windows() -> np.ndarray:
    """10 s windows of the two held-out real popcorn recordings (read and resampled to
    16 kHz mono by the dataset reader), at their start, middle and end."""
    from firstcrack.models.datasets.records import load_audio

    out = []
    for path in POPCORN:
        audio = load_audio(path)
        for start in (0, len(audio) // 2 - 80_000, len(audio) - 160_000):
            out.append(audio[start : start + 160_000])
    return np.stack(out)


def _roast_windows() -> np.ndarray:
    """Simulated roast audio: quiet start, first crack, and a 4 s window (padded)."""
    from firstcrack.models.sim.simulator import simulate_roast

    audio, truth = simulate_roast(11, duration_s=90.0)
    onset = int((truth.first_crack_onset_s or 45.0) * SR)
    starts = [0, onset - 40_000, len(audio) - 160_000]
    windows = [audio[s : s + 160_000] for s in starts]
    windows.append(np.pad(audio[onset : onset + 64_000], (0, 96_000)))
    return np.stack(windows)


@pytest.fixture(scope="module")
def audio_sets() -> dict[str, np.ndarray]:
    return {"real popcorn": _real_windows(), "simulated roast": _roast_windows()}


@pytest.mark.parametrize("layout", ["demo", "published"])
@pytest.mark.parametrize("which", ["real popcorn", "simulated roast"])
def test_features_from_config_match_the_extractor_on_real_and_simulated_audio(
    audio_sets: dict[str, np.ndarray], layout: str, which: str
) -> None:
    """Built from preprocessor_config.json alone, the features equal ASTFeatureExtractor's
    within FEATURE_BOUND, in every mode the agent uses (incremental and vectorised)."""
    if layout == "demo":
        path = AST_DEMO_MODEL_DIR / "onnx/int8/preprocessor_config.json"
        cfg, ex = FeatureConfig.from_file(path), extractor(**json.loads(path.read_text()))
    else:
        cfg, ex = FeatureConfig.from_dict(PUBLISHED), extractor(**PUBLISHED)
    windows = audio_sets[which]
    want = ex(list(windows), sampling_rate=SR, return_tensors="np")["input_values"]
    front = FeatureFrontEnd(cfg)
    got_incremental = front.features(windows)
    got_fast = FastFbank(cfg)(windows)
    assert got_fast.shape == want.shape == (len(windows), cfg.max_length, cfg.num_mel_bins)
    assert float(np.abs(got_fast - want).max()) <= FEATURE_BOUND
    assert float(np.abs(got_incremental - want).max()) <= FEATURE_BOUND
