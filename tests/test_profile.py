"""Detection profiles travel with the model; what the user sets wins, key by key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.config import load_config
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.offline.analyze import analyze_audio
from firstcrack.models.inference.classifier import ModelLoadError, load_classifier
from firstcrack.models.inference.profile import (
    PROFILE_FILE,
    PUBLISHED_PROFILE,
    DetectionProfile,
    ProfileError,
    find_profile,
    read_profile,
    write_profile,
)

OWN = DetectionProfile(threshold=0.35, rule="evidence", min_positive=3, confirm_s=25.0,
                       window_s=10.0, hop_s=2.0, note="test")


class ProfiledScorer:
    """A fake scorer carrying a profile: p = 0.5 for every window."""

    name = "fake"
    profile = OWN

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.full(len(windows), 0.5, dtype=np.float32)


def test_profile_fills_only_what_the_user_left_unset(tmp_path: Path) -> None:
    file = tmp_path / "agent.yaml"
    file.write_text("detector:\n  threshold: 0.8\n")
    config = load_config(file, environ={"FIRSTCRACK_DETECTOR__HOP_S": "4"})
    applied = config.with_profile(OWN)
    assert applied.detector.threshold == 0.8  # the file
    assert applied.detector.hop_s == 4.0  # the environment
    assert applied.detector.min_positive == 3 and applied.detector.confirm_s == 25.0
    in_force = applied.profile_in_force()
    assert in_force is not None and in_force.overridden == ("hop_s", "threshold")
    assert "hop_s, threshold set by the user" in in_force.summary()
    # A second profile does not replace the first.
    assert applied.with_profile(PUBLISHED_PROFILE).detector.min_positive == 3


def test_with_detector_keeps_unset_keys_unset() -> None:
    config = load_config(environ={}).with_detector(cadence="fixed")
    assert "threshold" not in config.detector.model_fields_set
    assert config.with_profile(OWN).detector.threshold == OWN.threshold


def test_state_and_analyze_name_the_profile_in_force() -> None:
    sink = ListSink()
    chain = build_chain(load_config(environ={}), ProfiledScorer(), sinks=[sink])
    settings = chain.runtime.current_settings()
    assert (settings.threshold, settings.hop_s, settings.rule) == (0.35, 2.0, "evidence")
    state = chain.runtime.snapshot().to_payload()
    assert state["detection_profile"]["source"] == "model"
    result = analyze_audio(np.zeros(16000 * 15, np.float32), ProfiledScorer(),
                           load_config(environ={"FIRSTCRACK_DETECTOR__MIN_POSITIVE": "9"}))
    described = result.to_json_dict()["detection_profile"]
    assert described["overridden"] == ["min_positive"] and described["threshold"] == 0.35
    assert result.settings.min_positive == 9


def test_folder_profile_beside_onnx_and_published_fallback(tmp_path: Path) -> None:
    write_profile(tmp_path, OWN)
    nested = tmp_path / "onnx" / "int8"
    nested.mkdir(parents=True)
    (nested / "model_quantized.onnx").write_bytes(b"")
    found = find_profile(nested / "model_quantized.onnx")
    assert found.settings() == OWN.settings() and found.source == "model"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_profile(empty) is PUBLISHED_PROFILE
    assert find_profile(None) is PUBLISHED_PROFILE
    assert PUBLISHED_PROFILE.settings() == {"threshold": 0.6, "rule": "k_of_n", "min_positive": 5,
                                            "confirm_s": 20.0, "window_s": 10.0, "hop_s": 3.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [({"threshold": 1.5}, "'threshold' must be within"), ({"rule": "vote"}, "'rule' must be"),
     ({"colour": 1}, r"unknown key\(s\) colour"), ({"min_positive": 0}, "'min_positive'")],
)
def test_bad_profiles_are_named(tmp_path: Path, change: dict, message: str) -> None:
    file = tmp_path / PROFILE_FILE
    file.write_text(json.dumps({**OWN.settings(), **change}))
    with pytest.raises(ProfileError, match=message):
        read_profile(file)


def test_a_broken_profile_fails_the_model_load(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / PROFILE_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError, match=PROFILE_FILE):
        load_classifier(str(model), backend="torch")
    (model / PROFILE_FILE).unlink()
    assert load_classifier(str(model), backend="torch").profile is PUBLISHED_PROFILE


def test_doctor_names_the_profile_and_the_values_in_effect() -> None:
    from firstcrack.agent.setup.doctor import check_model

    config = load_config(environ={"FIRSTCRACK_MODEL": "ast-demo",
                                  "FIRSTCRACK_DETECTOR__THRESHOLD": "0.7"})
    detail = check_model(config).detail
    assert "model profile (threshold set by the user)" in detail
    assert "p >= 0.7" in detail and "10 s windows every 3 s" in detail
