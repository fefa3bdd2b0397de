"""`firstcrack tune`'s data: which recordings are labelled, and the embedding cache.

A recording counts as labelled (docs/RECORDINGS.md) when its recorder sidecar says
`label_source: "user"`, when an Artisan `.alog` labels it (beside a sidecar, or alone),
or when it has a hand-made annotation JSON without the recorder's `firstcrack` block (the
`firstcrack train` layout: someone wrote it). `accept_agent` also counts sidecars whose
label is the agent's own (`label_source: "agent"`). Incomplete recordings (the agent died
mid-roast, `firstcrack.complete: false`) are left out: their label may be missing.
Parsing is `models.datasets.layouts.load_recordings`; nothing here reads audio or JSON itself.

The cache (`EmbeddingCache`) is one `.npz` per recording, named by the SHA-256 of the audio
file, the model's weights and the windowing, so a re-run after one new roast embeds only
that roast, and a different `--from` model or `--train-layers` never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE, UserError, recorder_meta
from firstcrack.models.contracts import label_source as sidecar_label_source
from firstcrack.models.datasets.layouts import load_recordings
from firstcrack.models.datasets.records import Recording, label_window

MIN_ROASTS = 3
"""Fewer labelled roasts than this (or none with first crack) cannot be split and tuned."""
HOW_TO_LABEL = (
    "with recording on, press Home Assistant's 'First crack now' button (or send MQTT "
    "`roast/set first_crack_now`) when you hear first crack, or 'False alarm' when the "
    "agent was wrong; Artisan's FCs button does the same, and an Artisan .alog saved beside "
    "a recording counts too; `--accept-agent-labels` also uses roasts you did not correct"
)


class TuneDataError(UserError, ValueError):
    """Not enough labelled recordings to tune (the message says what is missing)."""


def label_source(rec: Recording) -> str:
    """"user", "artisan", "agent", "annotation" (a hand-made JSON) or "incomplete"."""
    ann = rec.annotation
    block = recorder_meta(ann)
    if str(ann.get("source", "")).startswith("artisan:") or ann.get("label_source") == "artisan":
        return "artisan"
    if block is None:
        return "annotation"
    if block.get("complete") is False:
        return "incomplete"
    return sidecar_label_source(ann)


def labelled_recordings(root: str | Path, accept_agent: bool = False,
                        problems: list[dict[str, str]] | None = None
                        ) -> tuple[list[Recording], dict[str, int]]:
    """The labelled recordings under `root` and a count per label source (all found).

    Raises TuneDataError when fewer than MIN_ROASTS are labelled or none has first crack.
    """
    problems = [] if problems is None else problems
    found = load_recordings(root, problems)
    counts: dict[str, int] = {}
    for rec in found:
        counts[label_source(rec)] = counts.get(label_source(rec), 0) + 1
    wanted = {"user", "artisan", "annotation"} | ({"agent"} if accept_agent else set())
    chosen = [rec for rec in found if label_source(rec) in wanted]
    seen = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
    if len(chosen) < MIN_ROASTS:
        raise TuneDataError(
            f"{root}: {len(chosen)} labelled roast(s) found, at least {MIN_ROASTS} needed "
            f"({len(found)} readable recordings: {seen}; {len(problems)} problems). "
            f"To label a roast: {HOW_TO_LABEL}.")
    if not any(rec.has_crack for rec in chosen):
        raise TuneDataError(
            f"{root}: none of the {len(chosen)} labelled roasts has a first crack; at least "
            f"one is needed. To label a roast: {HOW_TO_LABEL}.")
    return chosen, counts


def window_starts(duration_s: float, window_s: float, hop_s: float) -> np.ndarray:
    """Start times (s) of every complete window."""
    return np.arange(0.0, duration_s - window_s + 1e-9, hop_s)


def window_labels(rec: Recording, window_s: float, hop_s: float) -> np.ndarray:
    """The 50 % overlap rule (`label_window`) for each window of `rec`."""
    return np.array([label_window(s, window_s, rec.regions)
                     for s in window_starts(rec.duration_s, window_s, hop_s)], dtype=np.int64)


def windows_of(rec: Recording, window_s: float, hop_s: float) -> np.ndarray:
    """[N, samples] float32 windows of `rec` (the same starts as `window_labels`)."""
    win = round(window_s * SAMPLE_RATE)
    return np.stack([rec.audio[round(s * SAMPLE_RATE):round(s * SAMPLE_RATE) + win]
                     for s in window_starts(rec.duration_s, window_s, hop_s)])


def file_digest(path: str | Path, extra: str = "") -> str:
    """SHA-256 of a file's bytes (and `extra`), hex."""
    h = hashlib.sha256(extra.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_digest(model_dir: str | Path) -> str:
    """SHA-256 over a save_pretrained directory's weights and configs."""
    folder = Path(model_dir)
    h = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json",
                 "preprocessor_config.json"):
        if (folder / name).is_file():
            h.update(name.encode() + file_digest(folder / name).encode())
    return h.hexdigest()


@dataclass
class EmbeddingCache:
    """One `.npz` per (recording, model, windowing, train_layers) under `folder`."""

    folder: Path
    model_key: str

    def get(self, rec: Recording, window_s: float, hop_s: float, train_layers: int,
            compute: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, bool]:
        """(cached frozen-part outputs for `rec`'s windows, whether they were cached)."""
        key = file_digest(rec.path, json.dumps([self.model_key, window_s, hop_s,
                                                 train_layers]))[:32]
        file = self.folder / f"{key}.npz"
        if file.is_file():
            try:
                with np.load(file) as data:
                    return data["x"], True
            except (OSError, ValueError, KeyError):
                file.unlink(missing_ok=True)  # a torn write: compute again
        x = compute(windows_of(rec, window_s, hop_s))
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez(tmp, x=x)
        tmp.replace(file)
        return x, False
