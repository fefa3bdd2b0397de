"""The pretrained mn04 ear: weights, front ends, ONNX export and the torch-free runtime.

"The weights are the real ones" is checked by listening: on sounds made here (a tone, white
noise, a click train, digital silence) the shipped ONNX graph, fed by the numpy front end,
puts a fitting AudioSet class in its top 5 for every sound, and the same network with
random weights does not. Torch tests skip where torch is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firstcrack.models.inference.ear import BACKBONE_ONNX, FEEDS, PretrainedEar, audioset_labels
from firstcrack.models.inference.ear_frontend import (
    kaldi_mel_banks,
    log_mel_32k,
    log_mel_from_16k,
    upsample_16k_to_32k,
)

ROOT = Path(__file__).resolve().parent.parent
SR16 = 16_000
SR32 = 32_000

EXPECTED: dict[str, set[str]] = {
    "tone": {"Sine wave", "Beep, bleep", "Dial tone"},
    "noise": {"White noise", "Static", "Noise", "Pink noise"},
    "clicks": {"Tick", "Tick-tock", "Clicking", "Metronome", "Knock", "Tap"},
    "silence": {"Silence"},
}
"""Per test sound, the classes of which at least one must be in the top 5."""


def make_sounds(seconds: float = 10.0) -> dict[str, np.ndarray]:
    """The sounds of EXPECTED at 16 kHz, float32 [n] each."""
    n = int(seconds * SR16)
    t = np.arange(n) / SR16
    rng = np.random.default_rng(0)
    k = np.arange(160)
    tick = 0.8 * np.sin(2 * np.pi * 3000 * k / SR16) * np.exp(-k / 24)
    clicks = np.zeros(n)
    for start in range(0, n - tick.size, SR16 // 2):  # 2 ticks per second
        clicks[start : start + tick.size] += tick
    sounds = {
        "tone": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "noise": 0.1 * rng.standard_normal(n),
        "clicks": clicks,
        "silence": np.zeros(n),
    }
    return {name: wave.astype(np.float32) for name, wave in sounds.items()}


def recognised(top5: dict[str, list[str]]) -> dict[str, bool]:
    """Whether each sound's top 5 holds one of its EXPECTED classes."""
    return {name: bool(EXPECTED[name] & set(labels)) for name, labels in top5.items()}


def band_limited_noise(n: int, cutoff: float, rate: int, seed: int) -> np.ndarray:
    """Gaussian noise with nothing at or above `cutoff` Hz, std 0.1, the middle of a longer
    draw (so its ends are not periodic)."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(2 * n))
    spec[np.fft.rfftfreq(2 * n, 1 / rate) >= cutoff] = 0.0
    wave = np.fft.irfft(spec, 2 * n)[n // 2 : n // 2 + n]
    return 0.1 * wave / wave.std()


# --- labels and front ends: numpy only ---------------------------------------------------


def test_labels_are_the_527_audioset_classes_in_output_order() -> None:
    labels = audioset_labels()
    assert len(labels) == 527 and len(set(labels)) == 527
    assert (labels[0], labels[433], labels[500], labels[526]) == (
        "Speech", "Firecracker", "Silence", "Field recording")


def test_kaldi_banks_layout() -> None:
    banks = kaldi_mel_banks()
    assert banks.shape == (128, 513) and banks.dtype == np.float32
    assert banks.min() == 0.0 and not banks[:, -1].any()
    assert banks.any(axis=1).all() and banks.max() <= 1.0
    # Bank 0 spans mels 0 .. 2d with d = mel(15 kHz) / 129; bin 1 (31.25 Hz) is on its
    # falling side, bin 0 (0 Hz) is its left foot.
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    d = mel(15_000.0) / 129
    assert banks[0, 0] == 0.0
    assert banks[0, 1] == pytest.approx((2 * d - mel(31.25)) / d, abs=1e-6)
    bin_hz = SR32 / 1024
    assert not banks[:, int(np.ceil(15_000 / bin_hz)) :].any()  # nothing above fmax


@pytest.mark.parametrize("n", [32_000, 32_001, 320_000, 1_000])
def test_frame_counts(n: int) -> None:
    assert log_mel_32k(np.zeros((1, n), np.float32)).shape == (1, 1, 128, 1 + (n - 1) // 320)
    if n % 2 == 0:
        wave16 = np.zeros((2, n // 2), np.float32)
        assert log_mel_from_16k(wave16).shape == (2, 1, 128, 1 + (n - 1) // 320)
        assert upsample_16k_to_32k(wave16).shape == (2, n)


def test_upsampler_is_band_limited() -> None:
    """A 1 kHz tone is interpolated to 1e-4; a 7 kHz tone leaves no image above 8 kHz."""
    t16 = np.arange(SR16) / SR16
    t32 = np.arange(SR32) / SR32
    up = upsample_16k_to_32k(np.sin(2 * np.pi * 1000 * t16)[None])[0]
    assert np.abs(up - np.sin(2 * np.pi * 1000 * t32))[200:-200].max() < 1e-4
    up = upsample_16k_to_32k(np.sin(2 * np.pi * 7000 * t16)[None])[0].astype(np.float64)
    spec = np.abs(np.fft.rfft(up * np.hanning(up.size)))
    freqs = np.fft.rfftfreq(up.size, 1 / SR32)
    assert spec[freqs > 8000].max() < 1e-4 * spec.max()


def test_mel16_equals_the_32k_front_end_on_band_limited_audio() -> None:
    """Away from the first two and last frames, both 16 kHz feeds give the 32 kHz features."""
    wave32 = band_limited_noise(SR32 * 3, cutoff=7000.0, rate=SR32, seed=1)[None]
    wave16 = wave32[:, ::2].astype(np.float32)
    want = log_mel_32k(wave32)
    for got in (log_mel_from_16k(wave16), log_mel_32k(upsample_16k_to_32k(wave16))):
        assert got.shape == want.shape
        assert np.abs(got - want)[..., 2:-1].max() < 0.03


# --- the shipped ONNX graph through the torch-free runtime -------------------------------


def test_backbone_is_shipped() -> None:
    assert BACKBONE_ONNX.is_file()
    assert 3_000_000 < BACKBONE_ONNX.stat().st_size < 5_000_000


@pytest.mark.parametrize("feed", FEEDS)
def test_real_weights_recognise_the_test_sounds(feed: str) -> None:
    ear = PretrainedEar(feed=feed, threads=1)
    sounds = make_sounds()
    logits, embedding = ear(np.stack(list(sounds.values())))
    assert logits.shape == (4, 527) and embedding.shape == (4, 384)
    assert logits.dtype == np.float32 and embedding.dtype == np.float32
    top5 = dict(zip(sounds, ear.top_labels(logits, 5), strict=True))
    assert all(recognised(top5).values()), top5
    assert top5["tone"][0] == "Sine wave" and top5["silence"][0] == "Silence", top5


def test_ear_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="feed"):
        PretrainedEar(feed="resample")
    with pytest.raises(ValueError, match="batch, samples"):
        PretrainedEar(threads=1).features(np.zeros(16_000, np.float32))


def test_runtime_imports_without_torch() -> None:
    code = ("import sys; import models.inference.ear, models.inference.ear_frontend; "
            "bad = {'torch', 'scipy'} & {m.split('.')[0] for m in sys.modules}; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# --- torch: the definition, the weights and the export -----------------------------------


def test_state_dict_loads_strictly() -> None:
    torch = pytest.importorskip("torch")
    from firstcrack.models.training.ear_torch import WEIGHTS, load_pretrained_mn04

    model = load_pretrained_mn04()  # strict=True inside
    state = torch.load(str(WEIGHTS), map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(state)
    assert sum(p.numel() for p in model.parameters()) == 983_599
    assert not model.training
    with torch.no_grad():
        logits, embedding = model(torch.zeros(3, 1, 128, 57))
    assert logits.shape == (3, 527) and embedding.shape == (3, 384)


def test_numpy_front_end_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from firstcrack.models.training.ear_torch import torch_log_mel

    rng = np.random.default_rng(2)
    t = np.arange(SR32 * 3 + 123) / SR32
    waves = np.stack([0.1 * rng.standard_normal(t.size), 0.5 * np.sin(2 * np.pi * 440 * t),
                      np.zeros(t.size)]).astype(np.float32)
    want = torch_log_mel(torch.from_numpy(waves)).numpy()
    got = log_mel_32k(waves)
    assert got.shape == want.shape == (3, 1, 128, 1 + (t.size - 1) // 320)
    assert np.abs(got - want).max() < 1e-4


def test_onnx_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from firstcrack.models.training.ear_torch import load_pretrained_mn04

    model = load_pretrained_mn04()
    ear = PretrainedEar(threads=1)
    rng = np.random.default_rng(3)
    for batch, seconds in ((2, 10.0), (1, 2.9)):
        wave = (0.1 * rng.standard_normal((batch, int(seconds * SR16)))).astype(np.float32)
        feats = ear.features(wave)
        got = ear.run_features(feats)
        with torch.no_grad():
            want = [t.numpy() for t in model(torch.from_numpy(feats))]
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and np.abs(a - b).max() < 1e-3


def test_random_weights_fail_the_listening_check() -> None:
    torch = pytest.importorskip("torch")
    from firstcrack.models.training.ear_torch import build_mn04

    torch.manual_seed(0)
    model = build_mn04()
    labels = audioset_labels()
    sounds = make_sounds()
    feats = log_mel_32k(upsample_16k_to_32k(np.stack(list(sounds.values()))))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(feats))
    top5 = {name: [labels[i] for i in row]
            for name, row in zip(sounds, torch.topk(logits, 5).indices.tolist(), strict=True)}
    assert sum(recognised(top5).values()) <= 1, top5
