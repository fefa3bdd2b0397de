"""Datasets: layouts, the 50 % labelling rule, splits by recording, .alog import, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.datasets.alog import AlogError, alog_annotation, read_alog
from firstcrack.models.datasets.layouts import detect_layout, load_recordings
from firstcrack.models.datasets.records import (
    Recording,
    chunk_recording,
    chunk_recording_id,
    label_window,
)
from firstcrack.models.datasets.simulated import simulated_dataset
from firstcrack.models.datasets.splits import (
    build_splits,
    format_split_report,
    split_recordings,
    write_split_report,
)


def _wav(path: Path, seconds: float, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    data = (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    sf.write(path, data, rate)
    return path


def _annotate(path: Path, regions: list[tuple[float, float, str]], duration: float) -> None:
    path.write_text(json.dumps({"audio_file": path.with_suffix(".wav").name, "duration": duration,
                                "annotations": [{"start_time": a, "end_time": b, "label": c}
                                                for a, b, c in regions]}))


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulated_dataset(out, seeds=[1, 2, 3], no_crack_seeds=[4, 5], duration_s=60)
    return out


def test_chunk_is_first_crack_from_half_overlap() -> None:
    """A 10 s window is first_crack exactly when >= 5 s of it is inside first crack."""
    assert label_window(0.0, 10.0, [(5.0, 30.0)]) == 1
    assert label_window(0.0, 10.0, [(5.01, 30.0)]) == 0
    assert label_window(20.0, 10.0, [(0.0, 25.0)]) == 1
    assert label_window(20.0, 10.0, [(0.0, 24.9)]) == 0
    # overlapping regions are not counted twice: 2..6 s is only 4 s
    assert label_window(0.0, 10.0, [(2.0, 5.0), (3.0, 6.0)]) == 0
    # two separate regions add up: 3 s + 2 s
    assert label_window(0.0, 10.0, [(0.0, 3.0), (8.0, 12.0)]) == 1


def test_chunking_uses_window_and_hop_and_drops_the_tail() -> None:
    audio = np.zeros(int(32 * SAMPLE_RATE), np.float32)
    rec = Recording("r", Path("r.wav"), audio, [(10.0, 20.0)], {})
    chunks = chunk_recording(rec, window_s=10.0, hop_s=5.0)
    assert [c.start_s for c in chunks] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert [c.label for c in chunks] == [0, 1, 1, 1, 0]
    assert all(len(c.audio) == 10 * SAMPLE_RATE for c in chunks)


def test_chunk_file_names_map_to_recording_ids() -> None:
    assert chunk_recording_id("roast7_chunk_012") == "roast7"
    assert chunk_recording_id("roast-7-chunk3") == "roast-7"
    assert chunk_recording_id("ethiopia_roast2-014") == "ethiopia_roast2"
    assert chunk_recording_id("single") == "single"


def test_split_is_by_recording_stratified_and_seeded() -> None:
    crack = {f"c{i}": True for i in range(4)} | {f"n{i}": False for i in range(4)}
    split = split_recordings(crack, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert split == split_recordings(crack, val_fraction=0.25, test_fraction=0.25, seed=3)
    ids = [rec for part in split.values() for rec in part]
    assert sorted(ids) == sorted(crack)  # every recording exactly once
    for name in ("train", "val", "test"):
        assert any(crack[r] for r in split[name]), name
        assert any(not crack[r] for r in split[name]), name
    # with two crack recordings, validation still gets one and train keeps one
    two = split_recordings({"a": True, "b": True, "x": False}, val_fraction=0.1)
    assert len([r for r in two["val"] if r in "ab"]) == 1


def test_simulated_recordings_split_without_leakage(sim_dir: Path, tmp_path: Path) -> None:
    assert detect_layout(sim_dir) == "recordings"
    splits = build_splits(sim_dir, window_s=10, hop_s=5, val_fraction=0.3, seed=1)
    owners: dict[str, str] = {}
    for name, chunks in splits.chunks.items():
        for chunk in chunks:
            assert owners.setdefault(chunk.recording_id, name) == name, chunk.recording_id
            assert chunk.audio.dtype == np.float32 and len(chunk.audio) == 10 * SAMPLE_RATE
    report = splits.report
    assert report["problems"] == []
    assert any(r.startswith("sim_crack") for r in report["splits"]["val"]["recordings"])
    for name, chunks in splits.chunks.items():
        assert report["splits"][name]["chunks"]["first_crack"] == sum(c.label for c in chunks)
    assert sum(c.label for c in splits.chunks["train"]) > 0
    json_path, text_path = write_split_report(report, tmp_path)
    assert json.loads(json_path.read_text())["splits"]["train"]["recordings"]
    assert "sim_crack_00001" in format_split_report(report)
    assert "sim_crack_00001" in text_path.read_text()


def test_published_chunk_layout_keeps_given_splits_and_groups_by_prefix(tmp_path: Path) -> None:
    for split, rec in (("train", "roastA"), ("train", "roastB"), ("test", "roastC")):
        for label in ("first_crack", "no_first_crack"):
            for i in range(2):
                _wav(tmp_path / split / label / f"{rec}_chunk_{i:03d}.wav", 10.0)
    # a stereo 44.1 kHz chunk, 9 s long: mixed, resampled and padded to the window
    _wav(tmp_path / "train" / "first_crack" / "roastB_chunk_009.wav", 9.0, 44_100, 2)
    assert detect_layout(tmp_path) == "chunks"
    splits = build_splits(tmp_path, val_fraction=0.5, seed=0)
    recs = {name: {c.recording_id for c in chunks} for name, chunks in splits.chunks.items()}
    assert recs["test"] == {"roastC"}
    assert recs["train"] | recs["val"] == {"roastA", "roastB"}
    assert not recs["train"] & recs["val"]
    assert all(len(c.audio) == 10 * SAMPLE_RATE for part in splits.chunks.values() for c in part)
    assert splits.report["splits"]["test"]["chunks"] == {"first_crack": 2, "no_first_crack": 2}


def _alog(path: Path, fcs: int, fce: int, as_json: bool = False) -> Path:
    timex = [5.0 + 2.0 * i for i in range(400)]  # Artisan clock starts at 5 s, 2 s samples
    profile = {"timex": timex, "timeindex": [10, 60, fcs, fce, 0, 0, 350, 0],
               "title": "Ethiopia", "flavors": [5.0, 6.0], "heavyFC": False, "roastdate": None}
    path.write_text(json.dumps(profile) if as_json else repr(profile))
    return path


def test_alog_first_crack_times_relative_to_audio_start(tmp_path: Path) -> None:
    ann, warnings = alog_annotation(_alog(tmp_path / "r.alog", 200, 250), "r.wav")
    assert warnings == []
    region = ann["annotations"][0]
    assert region == {"start_time": 400.0, "end_time": 500.0, "label": "first_crack"}
    assert ann["charge_s"] == 20.0 and ann["first_crack_roast_s"] == 380.0
    shifted, _ = alog_annotation(tmp_path / "r.alog", "r.wav", audio_offset_s=15.0)
    assert shifted["annotations"][0]["start_time"] == 385.0
    json_ann, _ = alog_annotation(_alog(tmp_path / "j.alog", 200, 250, as_json=True))
    assert json_ann["annotations"] == ann["annotations"]


def test_alog_without_fce_assumes_default_length_and_warns(tmp_path: Path) -> None:
    ann, warnings = alog_annotation(_alog(tmp_path / "r.alog", 200, 0))
    assert ann["annotations"][0]["end_time"] == 400.0 + 120.0
    assert len(warnings) == 1 and "FCe" in warnings[0]
    with pytest.raises(AlogError, match="FCs"):
        alog_annotation(_alog(tmp_path / "none.alog", 0, 0))


def test_alog_is_parsed_as_data_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.alog"
    evil.write_text(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    with pytest.raises(AlogError):
        read_alog(evil)
    assert not marker.exists()


def test_recordings_find_json_annotations_dir_and_alog(tmp_path: Path) -> None:
    _wav(tmp_path / "beside.wav", 30)
    _annotate(tmp_path / "beside.json", [(10, 25, "first_crack")], 30)
    _wav(tmp_path / "audio" / "indir.wav", 30)
    (tmp_path / "annotations").mkdir()
    _annotate(tmp_path / "annotations" / "indir.json", [], 30)
    _wav(tmp_path / "artisan.wav", 30)
    alog = {"timex": [float(i) for i in range(30)], "timeindex": [-1, 0, 12, 20, 0, 0, 0, 0]}
    (tmp_path / "artisan.alog").write_text(repr(alog))
    problems: list[dict[str, str]] = []
    recs = {r.recording_id: r for r in load_recordings(tmp_path, problems)}
    assert problems == []
    assert recs["beside"].regions == [(10.0, 25.0)]
    assert recs["audio/indir"].regions == []
    assert recs["artisan"].regions == [(12.0, 20.0)]


def test_bad_inputs_are_reported_file_by_file(tmp_path: Path) -> None:
    _wav(tmp_path / "good.wav", 30)
    _annotate(tmp_path / "good.json", [(5, 20, "first_crack")], 30)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    _annotate(tmp_path / "broken.json", [], 1)
    _wav(tmp_path / "nolabel.wav", 30)
    _wav(tmp_path / "overrun.wav", 30)
    _annotate(tmp_path / "overrun.json", [(20, 45, "first_crack"), (40, 50, "first_crack")], 30)
    _wav(tmp_path / "weird.wav", 30)
    _annotate(tmp_path / "weird.json", [(5, 10, "popcorn"), (12, 18, "first_crack")], 30)
    problems: list[dict[str, str]] = []
    recs = {r.recording_id: r for r in load_recordings(tmp_path, problems)}
    by_file = {Path(p["file"]).stem: p["problem"] for p in problems}
    assert set(recs) == {"good", "overrun", "weird"}
    assert "unreadable" in by_file["broken"]
    assert "no annotation" in by_file["nolabel"]
    assert "popcorn" in by_file["weird"]
    assert [p for p in problems if Path(p["file"]).stem == "overrun"][0]["problem"].endswith(
        "clipped")
    assert recs["overrun"].regions == [(20.0, 30.0)]  # clipped; the one past the end dropped
    assert recs["weird"].regions == [(12.0, 18.0)]
    assert len(problems) == 5
