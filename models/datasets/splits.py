"""Per-recording splits and the split report (never per chunk, so nothing leaks).

Splits are always made per recording, never per chunk, so no recording's audio is on
both sides. `build_splits` loads any layout and splits it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.datasets.layouts import (
    add_problem,
    detect_layout,
    load_chunk_layout,
    load_recordings,
)
from firstcrack.models.datasets.records import (
    LABELS,
    SPLITS,
    Chunk,
    DatasetError,
    DatasetSplits,
    chunk_recording,
)


def _take(available: int, target: float) -> int:
    """round(target), but at least 1 when target > 0, and never more than `available`."""
    if target <= 0 or available <= 0:
        return 0
    return min(max(round(target), 1), available)


def split_recordings(
    has_crack: Mapping[str, bool], val_fraction: float = 0.2, test_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Seeded, stratified split of recording ids into train/val/test.

    Crack and no-crack recordings are shuffled and divided separately so that
    each split with a non-zero fraction gets a crack recording whenever there
    are at least two (validation takes priority over test; train keeps one).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for crack in (True, False):
        ids = sorted(rec for rec, c in has_crack.items() if c == crack)
        rng.shuffle(ids)
        n = len(ids)
        n_val = _take(n - 1, val_fraction * n)  # train always keeps one
        n_test = _take(n - 1 - n_val, test_fraction * n)
        out["val"] += ids[:n_val]
        out["test"] += ids[n_val : n_val + n_test]
        out["train"] += ids[n_val + n_test :]
    return {name: sorted(ids) for name, ids in out.items()}


def split_report(
    chunks: Mapping[str, Sequence[Chunk]], problems: list[dict[str, str]], **info: Any
) -> dict[str, Any]:
    """JSON-ready summary: recordings and chunk counts per split and class, plus problems."""
    splits = {}
    for name, items in chunks.items():
        counts = {label: sum(c.label == i for c in items) for i, label in enumerate(LABELS)}
        splits[name] = {"recordings": sorted({c.recording_id for c in items}), "chunks": counts}
    return {**info, "splits": splits, "problems": list(problems)}


def format_split_report(report: Mapping[str, Any]) -> str:
    """The split report as a short human-readable table."""
    lines = [f"data: {report.get('data', '?')} (layout: {report.get('layout', '?')})",
             f"{'split':<6} {'recordings':>10} {'first_crack':>12} {'no_first_crack':>15}"]
    for name, split in report["splits"].items():
        counts = split["chunks"]
        lines.append(f"{name:<6} {len(split['recordings']):>10} {counts['first_crack']:>12} "
                     f"{counts['no_first_crack']:>15}")
    for name, split in report["splits"].items():
        lines.append(f"{name} recordings: {', '.join(split['recordings']) or '-'}")
    lines.append(f"problems: {len(report['problems'])}")
    lines += [f"  {p['file']}: {p['problem']}" for p in report["problems"]]
    return "\n".join(lines) + "\n"


def write_split_report(report: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write `split_report.json` and `split_report.txt` into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, text_path = out / "split_report.json", out / "split_report.txt"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    text_path.write_text(format_split_report(report))
    return json_path, text_path


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
                add_problem(problems, rec, f"recording id appears in both {seen[rec]} and {name} "
                            "(leakage in the given split folders)")
    if not chunks["train"]:
        raise DatasetError(f"no usable training chunks under {data_dir} "
                           f"({len(problems)} problems; see the log)")
    report = split_report(chunks, problems, data=str(data_dir), layout=layout, window_s=window_s,
                          hop_s=hop_s, seed=seed, val_fraction=val_fraction,
                          test_fraction=test_fraction)
    return DatasetSplits(chunks, report, problems)
