"""Training and evaluation data: layouts, chunking, labelling, splits, reports.

Two on-disk layouts are read (auto-detected by `detect_layout`):

- **chunks** (the published dataset): `first_crack/*.wav` and
  `no_first_crack/*.wav` 10 s chunks, optionally inside `train/`, `val/`
  (or `validation/`) and `test/` split folders, which are then respected.
  A chunk's recording id is its file stem up to a `_chunk`/`-chunk` marker
  (`roast7_chunk_012` -> `roast7`); without a marker, a trailing `_NNN`/`-NNN`
  chunk index is dropped (`roast7-012` -> `roast7`); otherwise the whole stem.
  The rule errs towards merging: two recordings that share a prefix land in
  one group, which can only make a split stricter, never leak.
- **recordings**: audio files (any depth) with annotation JSON
  `{"audio_file", "duration", "annotations": [{"start_time", "end_time",
  "label"}]}` found as `STEM.json` beside the audio, `annotations/STEM.json`
  under the root, or any JSON under the root whose `audio_file` names it; or,
  failing those, an Artisan `STEM.alog` (see `models.artisan`). Recordings are
  cut into `window_s` chunks every `hop_s`; a chunk is `first_crack` when at
  least half of it overlaps first-crack regions (`label_window`).

Splits are always made per recording, never per chunk, so no recording's audio
is on both sides. Bad inputs never stop a run: each becomes one entry in
`problems` (file + reason), is logged, and the file is skipped or repaired.
Audio is float32 mono at 16 kHz; other rates are resampled, channels averaged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from models.artisan import AlogError, alog_annotation, alog_charge_s
from models.splits import (  # noqa: F401 - re-exported: part of this module's API
    LABELS,
    SPLITS,
    format_split_report,
    split_recordings,
    split_report,
    write_split_report,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
KNOWN_REGION_LABELS = frozenset({"first_crack", "no_first_crack", "second_crack"})
"""Region labels accepted in annotation JSON; only first_crack makes a positive chunk."""
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})
_SPLIT_ALIASES = {
    "train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"
}
_END_TOLERANCE_S = 0.5
"""Annotations may overrun the audio by this much (rounding) before it is a problem."""
_CHUNK_ID = re.compile(r"^(?P<rec>.+?)[_-]chunk(?:[_-]?\d+)?.*$", re.IGNORECASE)
_INDEX_SUFFIX = re.compile(r"^(?P<rec>.+?)[_-]\d+$")


class DatasetError(ValueError):
    """A data directory that cannot give a dataset at all (missing, empty, one recording)."""


class AudioError(ValueError):
    """An audio file that cannot be read or is empty."""


@dataclass(eq=False)
class Chunk:
    """One fixed-length training window.

    `audio` is float32 mono 16 kHz, exactly the window length (a view into the
    recording when cut from one). `start_s` is seconds from the start of its
    recording (0 for published chunks). `label`: 1 = first_crack.
    """

    recording_id: str
    source: str
    start_s: float
    label: int
    audio: np.ndarray


@dataclass(eq=False)
class Recording:
    """A whole annotated recording; `regions` are first-crack (start, end) seconds."""

    recording_id: str
    path: Path
    audio: np.ndarray
    regions: list[tuple[float, float]]
    annotation: dict[str, Any]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def has_crack(self) -> bool:
        return bool(self.regions)


@dataclass
class DatasetSplits:
    """Chunks per split ("train"/"val"/"test") and the report describing them."""

    chunks: dict[str, list[Chunk]]
    report: dict[str, Any]
    problems: list[dict[str, str]] = field(default_factory=list)


# --- audio ---------------------------------------------------------------------------------


def load_audio(path: str | Path) -> np.ndarray:
    """Read any soundfile-supported file as float32 mono at 16 kHz (raises AudioError)."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise AudioError(f"unreadable audio: {exc}") from exc
    if data.size == 0:
        raise AudioError("audio file is empty")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        # Imported here: scipy.signal costs ~75 MB of memory, and the CLI imports this
        # module (evaluate's options) for every command, `run` on a Pi included.
        from scipy.signal import resample_poly

        g = gcd(int(rate), SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // g, int(rate) // g)
    return np.ascontiguousarray(mono, dtype=np.float32)


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Zero-pad or truncate to exactly `samples` (the model's window)."""
    if len(audio) >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - len(audio)))


# --- labelling and chunking -----------------------------------------------------------------


def label_window(start_s: float, window_s: float, regions: Iterable[tuple[float, float]]) -> int:
    """1 when first-crack regions cover at least half of [start_s, start_s + window_s).

    Overlapping regions are merged first so that no second counts twice.
    """
    covered, cursor = 0.0, start_s
    for lo, hi in sorted(regions):
        lo, hi = max(lo, cursor), min(hi, start_s + window_s)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return int(covered >= 0.5 * window_s - 1e-9)


def chunk_recording(rec: Recording, window_s: float = 10.0, hop_s: float = 5.0) -> list[Chunk]:
    """Cut complete windows every `hop_s` seconds; a tail shorter than a window is dropped."""
    win, hop = round(window_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE)
    return [
        Chunk(rec.recording_id, str(rec.path), s / SAMPLE_RATE,
              label_window(s / SAMPLE_RATE, window_s, rec.regions), rec.audio[s : s + win])
        for s in range(0, len(rec.audio) - win + 1, hop)
    ]


def chunk_recording_id(stem: str) -> str:
    """The recording a published chunk came from (rule in the module docstring)."""
    for pattern in (_CHUNK_ID, _INDEX_SUFFIX):
        match = pattern.match(stem)
        if match:
            return match.group("rec")
    return stem


# --- layouts -------------------------------------------------------------------------------


def detect_layout(root: str | Path) -> str:
    """"chunks" when class folders exist (at the top or under split folders), else "recordings"."""
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"data directory not found: {base}")
    tops = [base] + [base / name for name in _SPLIT_ALIASES if (base / name).is_dir()]
    if any((d / label).is_dir() for d in tops for label in LABELS):
        return "chunks"
    return "recordings"


def _problem(problems: list[dict[str, str]], file: str | Path, message: str) -> None:
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
                    _problem(problems, file, str(exc))
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
    """The agent recorder's sidecar beside `audio` (a JSON with a `firstcrack` key), or None."""
    try:
        data = json.loads(audio.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("firstcrack"), dict) else None


def find_annotation(audio: Path, base: Path, index: Mapping[str, Path]) -> Path | None:
    """The annotation for `audio`: JSON beside it, in annotations/, by audio_file; then .alog.

    One exception (docs/RECORDINGS.md): beside a recorder sidecar whose label is not the
    user's own (`label_source` other than "user"), an `STEM.alog` outranks the sidecar.
    """
    sidecar = recorder_sidecar(audio)
    if (sidecar is not None and sidecar.get("label_source") != "user"
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
            _problem(problems, file, f"unknown label {label!r} in {item!r}; ignored")
            continue
        if label != "first_crack":
            continue  # other regions only matter by not being first crack
        try:
            start, end = float(item["start_time"]), float(item["end_time"])
        except (KeyError, TypeError, ValueError):
            _problem(problems, file, f"malformed annotation {item!r} ignored")
            continue
        if not 0 <= start < end:
            _problem(problems, file, f"annotation {start:g}-{end:g} s is empty; ignored")
            continue
        if end > duration_s + _END_TOLERANCE_S:
            message = f"annotation {start:g}-{end:g} s runs past the end of the audio"
            if start >= duration_s:
                _problem(problems, file, f"{message} ({duration_s:.1f} s); ignored")
                continue
            _problem(problems, file, f"{message} ({duration_s:.1f} s); clipped")
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
        charge_s = sidecar["firstcrack"].get("charge_s")
        try:
            alog_charge = alog_charge_s(alog)
        except AlogError:
            alog_charge = None
        if charge_s is None or alog_charge is None:
            _problem(problems, alog, "cannot align the profile on CHARGE (not set in the "
                     "profile or the sidecar); the sidecar's label is used")
            return sidecar
        audio_offset_s = alog_charge - float(charge_s)
    try:
        annotation, notes = alog_annotation(alog, audio.name, audio_offset_s,
                                            duration_s=duration_s)
    except AlogError as exc:
        if sidecar is None:
            raise
        _problem(problems, alog, f"{exc}; the sidecar's label is used")
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
            _problem(problems, file, "no annotation (looked for STEM.json, annotations/STEM.json, "
                     "a JSON naming it in audio_file, STEM.alog)")
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
            _problem(problems, file, str(exc))
            continue
        rec_id = file.relative_to(base).with_suffix("").as_posix()
        recordings.append(Recording(rec_id, file, audio, regions, annotation))
    return recordings


# --- splitting and reporting -----------------------------------------------------------------


def build_splits(
    data_dir: str | Path, window_s: float = 10.0, hop_s: float = 5.0, val_fraction: float = 0.2,
    test_fraction: float = 0.0, seed: int = 0, audio_offset_s: float = 0.0,
) -> DatasetSplits:
    """Load any layout under `data_dir` and split it by recording (see the module docstring).

    Published split folders are kept as given; a missing `val` is carved out of
    `train` by recording. Raises DatasetError when nothing usable is found.
    """
    layout, problems = detect_layout(data_dir), []
    if layout == "chunks":
        given = load_chunk_layout(data_dir, window_s, problems)
        pool = given.pop(None, []) + ([] if "val" in given else given.pop("train", []))
    else:
        pool = [c for rec in load_recordings(data_dir, problems, audio_offset_s)
                for c in chunk_recording(rec, window_s, hop_s)]
        given = {}
    crack = {c.recording_id: False for c in pool}
    for c in pool:
        crack[c.recording_id] |= bool(c.label)
    assigned = split_recordings(crack, val_fraction, 0.0 if given else test_fraction, seed)
    chunks = {name: list(given.get(name, [])) for name in SPLITS}
    where = {rec: name for name, ids in assigned.items() for rec in ids}
    for c in pool:
        chunks[where[c.recording_id]].append(c)
    seen: dict[str, str] = {}
    for name in SPLITS:
        for rec in sorted({c.recording_id for c in chunks[name]}):
            if seen.setdefault(rec, name) != name:
                _problem(problems, rec, f"recording id appears in both {seen[rec]} and {name} "
                         "(leakage in the given split folders)")
    if not chunks["train"]:
        raise DatasetError(f"no usable training chunks under {data_dir} "
                           f"({len(problems)} problems; see the log)")
    report = split_report(chunks, problems, data=str(data_dir), layout=layout, window_s=window_s,
                          hop_s=hop_s, seed=seed, val_fraction=val_fraction,
                          test_fraction=test_fraction)
    return DatasetSplits(chunks, report, problems)


def simulated_dataset(
    out_dir: str | Path, seeds: Iterable[int], no_crack_seeds: Iterable[int] = (),
    duration_s: float | None = None,
) -> list[Path]:
    """Write simulated roasts (WAV + annotation JSON) into `out_dir`; returns the WAV paths.

    Crack roasts are `sim_crack_SEED.wav`, no-crack roasts `sim_nocrack_SEED.wav`,
    so the seeds (which must not overlap a model's training seeds when it is
    evaluated) can be read back from the names. Existing WAV+JSON pairs are kept
    (the simulator is deterministic), which makes `train --resume` cheap.
    """
    from models.simulator import write_roast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for crack, group in ((True, seeds), (False, no_crack_seeds)):
        for seed in group:
            wav = out / f"sim_{'crack' if crack else 'nocrack'}_{seed:05d}.wav"
            if not (wav.is_file() and wav.with_suffix(".json").is_file()):  # resume: reuse
                write_roast(wav, seed, duration_s=duration_s, crack=crack)
            paths.append(wav)
    return paths
