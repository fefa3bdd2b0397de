"""The shipped ear (`models/demo`): loads torch-free, scores like its cache, fails clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from firstcrack.models.inference.classifier import DEMO_MODEL_DIR, ModelLoadError, load_classifier
from firstcrack.models.inference.ear_head import EAR_FILE, ear_features, read_ear_spec
from firstcrack.models.inference.profile import PROFILE_FILE, read_profile
from firstcrack.models.sim.simulator import simulate_roast
from firstcrack.models.training.ear_data import cut_windows, label_windows, window_ends

MAX_MODEL_BYTES = 8 * 1024 * 1024


def test_demo_is_the_ear_with_its_own_profile() -> None:
    model = load_classifier("demo")
    assert model.architecture == "ear" and model.backend == "onnx"  # type: ignore[attr-defined]
    profile = read_profile(DEMO_MODEL_DIR / PROFILE_FILE)
    assert model.profile.settings() == profile.settings()
    assert model.window_samples == int(profile.window_s * 16000)
    spec = read_ear_spec(DEMO_MODEL_DIR)
    size = spec.backbone.stat().st_size + sum(
        p.stat().st_size for p in DEMO_MODEL_DIR.iterdir() if p.is_file())
    assert size <= MAX_MODEL_BYTES


def test_predict_is_the_head_over_the_backbone() -> None:
    model = load_classifier("demo")
    rng = np.random.default_rng(1)
    windows = (rng.standard_normal((3, model.window_samples)) * 0.05).astype(np.float32)
    p = model.predict(windows)
    logits, embedding = model.ear(windows)  # type: ignore[attr-defined]
    assert np.allclose(p, model.predict_features(ear_features(logits, embedding)))
    assert p.dtype == np.float32 and np.all((p >= 0) & (p <= 1))
    assert model.predict(np.zeros((0, model.window_samples), np.float32)).shape == (0,)


def test_the_ear_hears_simulated_first_crack_above_its_quiet_start() -> None:
    """On a roast no training or choosing ever saw, windows holding pops score higher on
    average than the first minutes of the roast (a weak check that cannot pass on noise)."""
    audio, truth = simulate_roast(30_001, 300.0, crack=True, sparse=False)
    model = load_classifier("demo")
    window_s = model.window_samples / 16000
    ends = window_ends(len(audio), window_s, 1.0)
    labels = label_windows(ends, window_s, truth.pop_times_s, truth.second_crack_pop_times_s)
    p = np.concatenate([model.predict(cut_windows(audio, ends[i:i + 32], window_s))
                        for i in range(0, len(ends), 32)])
    assert p[labels == 1].mean() > p[ends < 60].mean() + 0.2


@pytest.mark.parametrize(
    ("edit", "message"),
    [(lambda d: d.update(feed="fast"), "'feed' must be one of"),
     (lambda d: d["head"].update(weights=[1.0]), "'head.weights' must hold"),
     (lambda d: d.update(version=2), "unsupported version"),
     (lambda d: d.update(backbone="missing.onnx"), "is not in")],
)
def test_a_broken_ear_is_a_clear_load_error(tmp_path: Path, edit, message: str) -> None:
    folder = tmp_path / "ear"
    shutil.copytree(DEMO_MODEL_DIR, folder)
    spec = read_ear_spec(DEMO_MODEL_DIR)
    shutil.copyfile(spec.backbone, folder / "backbone.onnx")
    data = json.loads((folder / EAR_FILE).read_text())
    data["backbone"] = "backbone.onnx"
    edit(data)
    (folder / EAR_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match=message):
        load_classifier(str(folder))


def test_the_ear_refuses_the_torch_backend() -> None:
    with pytest.raises(ModelLoadError, match="onnx backend only"):
        load_classifier("demo", backend="torch")
