"""The two on-disk data layouts, and where each recording's annotation comes from.

Two layouts are read (auto-detected by `detect_layout`):

- **chunks** (the published dataset): `first_crack/*.wav` and `no_first_crack/*.wav`
  10 s chunks, optionally inside `train/`, `val/` (or `validation/`) and `test/` split
  folders, which are then respected.
- **recordings**: audio files (any depth) with annotation JSON `{"audio_file",
  "duration", "annotations": [{"start_time", "end_time", "label"}]}` found as
  `STEM.json` beside the audio, `annotations/STEM.json` under the root, or any JSON
  under the root whose `audio_file` names it; or, failing those, an Artisan `STEM.alog`
  (models/datasets/alog.py). Recordings are cut into `window_s` chunks every `hop_s`.

Bad inputs never stop a run: each becomes one entry in `problems` (file + reason), is
logged, and the file is skipped or repaired.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from firstcrack.models.contracts import SAMPLE_RATE, recorder_meta
from firstcrack.models.contracts import label_source as contract_label_source
from firstcrack.models.datasets.alog import AlogError, alog_annotation, alog_charge_s
from firstcrack.models.datasets.records import (
    AUDIO_SUFFIXES,
    LABELS,
    AudioError,
    Chunk,
    DatasetError,
    Recording,
    chunk_recording_id,
    fit_length,
    load_audio,
)

log = logging.getLogger(__name__)


KNOWN_REGION_LABELS = frozenset({"first_crack", "no_first_crack", "second_crack"})
"""Region labels accepted in annotation JSON; only first_crack makes a positive chunk."""


_SPLIT_ALIASES = {
    "train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"
}


_END_TOLERANCE_S = 0.5
"""Annotations may overrun the audio by this much (rounding) before it is a problem."""


def detect_layout(root: str | Path) -> str:
    """"chunks" when class folders exist (at the top or under split folders), else "recordings"."""
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"data directory not found: {base}")
    tops = [base] + [base / name for name in _SPLIT_ALIASES if (base / name).is_dir()]
    if any((d / label).is_dir() for d in tops for label in LABELS):
        return "chunks"
    return "recordings"


def add_problem(problems: list[dict[str, str]], file: str | Path, message: str) -> None:
    log.warning("%s: %s", file, message)
    problems.append({"file": str(file), "problem": message})


def load_chunk_layout(
    root: str | Path, window_s: float, problems: list[dict[str, str]]
) -> dict[str | None, list[Chunk]]:
    """Published chunks keyed by their split folder (None when the root has no split folders)."""
    base, samples = Path(root), round(window_s * SAMPLE_RATE)
    split_dirs = {_SPLIT_ALIASES[d.name]: d for d in sorted(base.iterdir())
                  if d.is_dir() and d.name in _SPLIT_ALIASES}
    sources: dict[str | None, Path] = dict(split_dirs) if split_dirs else {None: base}
    out: dict[str | None, list[Chunk]] = {}
    for split, folder in sources.items():
        chunks: list[Chunk] = []
        for label, name in enumerate(LABELS):
            for file in sorted((folder / name).glob("*")):
                if file.suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                try:
                    audio = load_audio(file)
                except AudioError as exc:
                    add_problem(problems, file, str(exc))
                    continue
                rec = chunk_recording_id(file.stem)
                chunks.append(Chunk(rec, str(file), 0.0, label, fit_length(audio, samples)))
        out[split] = chunks
    return out


def _annotation_index(base: Path) -> dict[str, Path]:
    """audio_file basename -> JSON path, for annotation files named differently from the audio."""
    index: dict[str, Path] = {}
    for file in base.rglob("*.json"):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("audio_file"), str):
            index.setdefault(Path(data["audio_file"]).name, file)
    return index


def recorder_sidecar(audio: Path) -> dict[str, Any] | None:
    """The agent recorder's sidecar beside `audio`, or None (models/contracts.py)."""
    try:
        data = json.loads(audio.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if recorder_meta(data) is not None else None


def find_annotation(audio: Path, base: Path, index: Mapping[str, Path]) -> Path | None:
    """The annotation for `audio`: JSON beside it, in annotations/, by audio_file; then .alog.

    One exception (docs/RECORDINGS.md): beside a recorder sidecar whose label is not the
    user's own (`label_source` other than "user"), an `STEM.alog` outranks the sidecar.
    """
    sidecar = recorder_sidecar(audio)
    if (sidecar is not None and contract_label_source(sidecar) != "user"
            and audio.with_suffix(".alog").is_file()):
        return audio.with_suffix(".alog")
    for suffix in (".json", ".alog"):
        for candidate in (audio.with_suffix(suffix), base / "annotations" / (audio.stem + suffix)):
            if candidate.is_file():
                return candidate
        if suffix == ".json" and audio.name in index:
            return index[audio.name]
    return None


def _regions(
    annotation: Mapping[str, Any], file: Path, duration_s: float, problems: list[dict[str, str]]
) -> list[tuple[float, float]]:
    """First-crack regions, validated and clipped to the audio; problems reported per region."""
    items = annotation.get("annotations")
    if not isinstance(items, list):
        raise AudioError("annotation JSON has no 'annotations' list")
    regions: list[tuple[float, float]] = []
    for item in items:
        label = item.get("label") if isinstance(item, dict) else None
        if label not in KNOWN_REGION_LABELS:
            add_problem(problems, file, f"unknown label {label!r} in {item!r}; ignored")
            continue
        if label != "first_crack":
            continue  # other regions only matter by not being first crack
        try:
            start, end = float(item["start_time"]), float(item["end_time"])
        except (KeyError, TypeError, ValueError):
            add_problem(problems, file, f"malformed annotation {item!r} ignored")
            continue
        if not 0 <= start < end:
            add_problem(problems, file, f"annotation {start:g}-{end:g} s is empty; ignored")
            continue
        if end > duration_s + _END_TOLERANCE_S:
            message = f"annotation {start:g}-{end:g} s runs past the end of the audio"
            if start >= duration_s:
                add_problem(problems, file, f"{message} ({duration_s:.1f} s); ignored")
                continue
            add_problem(problems, file, f"{message} ({duration_s:.1f} s); clipped")
            end = duration_s
        regions.append((start, end))
    return sorted(regions)


def _alog_label(
    alog: Path, audio: Path, audio_offset_s: float, duration_s: float,
    problems: list[dict[str, str]],
) -> dict[str, Any]:
    """The annotation from `alog`; beside a recorder sidecar it is aligned on CHARGE, and a
    profile without FCs (or without CHARGE to align on) falls back to the sidecar."""
    sidecar = recorder_sidecar(audio)
    if sidecar is not None:
        charge_s = (recorder_meta(sidecar) or {}).get("charge_s")
        try:
            alog_charge = alog_charge_s(alog)
        except AlogError:
            alog_charge = None
        if charge_s is None or alog_charge is None:
            add_problem(problems, alog, "cannot align the profile on CHARGE (not set in the "
                        "profile or the sidecar); the sidecar's label is used")
            return sidecar
        audio_offset_s = alog_charge - float(charge_s)
    try:
        annotation, notes = alog_annotation(alog, audio.name, audio_offset_s,
                                            duration_s=duration_s)
    except AlogError as exc:
        if sidecar is None:
            raise
        add_problem(problems, alog, f"{exc}; the sidecar's label is used")
        return sidecar
    for note in notes:
        problems.append({"file": str(alog), "problem": note})
    if sidecar is not None:
        annotation["label_source"] = "artisan"
    return annotation


def load_recordings(
    root: str | Path, problems: list[dict[str, str]], audio_offset_s: float = 0.0
) -> list[Recording]:
    """Every annotated audio file under `root`; unannotated or broken ones become problems."""
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"data directory not found: {base}")
    index = _annotation_index(base)
    recordings: list[Recording] = []
    for file in sorted(p for p in base.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        ann_file = find_annotation(file, base, index)
        if ann_file is None:
            add_problem(problems, file, "no annotation (looked for STEM.json, "
                        "annotations/STEM.json, a JSON naming it in audio_file, STEM.alog)")
            continue
        try:
            audio = load_audio(file)
            duration = len(audio) / SAMPLE_RATE
            if ann_file.suffix == ".alog":
                annotation = _alog_label(ann_file, file, audio_offset_s, duration, problems)
            else:
                annotation = json.loads(ann_file.read_text(encoding="utf-8"))
                if not isinstance(annotation, dict):
                    raise AudioError(f"annotation {ann_file.name} is not a JSON object")
            regions = _regions(annotation, ann_file, duration, problems)
        except (AudioError, AlogError, OSError, ValueError) as exc:
            add_problem(problems, file, str(exc))
            continue
        rec_id = file.relative_to(base).with_suffix("").as_posix()
        recordings.append(Recording(rec_id, file, audio, regions, annotation))
    return recordings
