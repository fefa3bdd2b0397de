"""`firstcrack tune`, the model side: fit a copy of a model to one user's labelled roasts.

Modes:

- **head** (default, "cheap"): the AST backbone is frozen; each training window's pooled
  embedding is computed once and cached (`firstcrack.models.tune.data.EmbeddingCache`), then the
  classifier head (`ASTMLPHead`: LayerNorm + Linear) is trained on the cache
  (`firstcrack.models.tune.head`). The forward passes are the whole cost; the head trains
  in seconds (docs/TUNING.md gives the times).
- **head with `train_layers=K`**: the cache holds the tokens before the last K encoder
  layers and those layers are trained too. Still one frozen forward per window, but K
  layers' forward and backward per step: minutes for the demo model, hours for the full
  AST on a Pi. Off by default.
- **full**: `models.training.train.train` on the same recordings (every weight; a desktop's job).

Head-only is the default because a user's roasts come from one roaster, which is the
case tune exists for; `--train-layers K` is offered for a roaster where it is not
enough. The measurements behind that choice are in docs/TUNING.md, "Why head-only".

The result is the same `ASTForAudioClassification` saved with `save_pretrained` (plus the
preprocessor config), which `models.inference.classifier` loads and `models.training.export`
exports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.datasets.records import Recording
from firstcrack.models.extras import require
from firstcrack.models.tune.data import EmbeddingCache, model_digest, window_labels

log = logging.getLogger(__name__)

DEFAULT_HOP_S = 2.5
"""Training windows every 2.5 s: four views of every second, at a quarter of a 1 s hop's cost."""


@dataclass
class TuneResult:
    """What the model side did; `seconds` per phase."""

    mode: str
    out_dir: str
    windows: int
    positives: int
    cached_recordings: int
    seconds: dict[str, float] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)


def _source_dir(ref: str) -> Path:
    from firstcrack.models.inference.classifier import ModelLoadError, resolve_model_ref

    path = Path(resolve_model_ref(ref)).expanduser()
    if not (path / "config.json").is_file() or not (path / "preprocessor_config.json").is_file():
        raise ModelLoadError(ref, f"{path} is not a save_pretrained model directory (tune needs "
                             "the torch weights: config.json, preprocessor_config.json)")
    return path


def tune_head_model(
    base: str, recordings: Sequence[Recording], out_dir: str | Path, cache_dir: str | Path,
    train_layers: int = 0, window_s: float = 10.0, hop_s: float = DEFAULT_HOP_S,
    epochs: int | None = None, lr: float | None = None, seed: int = 0, threads: int | None = None,
) -> TuneResult:
    """Cheap mode: embed `recordings` once (cached), train the head, save into `out_dir`."""
    require("train", "`firstcrack tune`")
    import torch

    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.tune.head import embed, train_head, tuned_copy

    started = time.monotonic()
    src = _source_dir(base)
    if threads:
        torch.set_num_threads(threads)
    clf: Any = load_classifier(str(src), backend="torch", threads=threads)
    cache = EmbeddingCache(Path(cache_dir), model_digest(src))
    xs, ys, hits = [], [], 0
    for rec in recordings:
        x, hit = cache.get(rec, window_s, hop_s, train_layers,
                           lambda w: embed(clf.model, clf.features(w), train_layers))
        xs.append(x)
        ys.append(window_labels(rec, window_s, hop_s))
        hits += hit
    embedded = time.monotonic()
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    model = tuned_copy(clf.model)
    fit = train_head(model, x_all, y_all, clf.first_crack_index, train_layers,
                     epochs=epochs or (300 if train_layers == 0 else 15),
                     lr=lr or (3e-3 if train_layers == 0 else 5e-4), seed=seed)
    trained = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    (out / "preprocessor_config.json").write_bytes((src / "preprocessor_config.json").read_bytes())
    log.info("tuned head: %s", fit)
    return TuneResult("head", str(out), len(y_all), int(y_all.sum()), hits,
                      {"embed": embedded - started, "train": trained - embedded}, asdict(fit))


def tune_full_model(base: str, data_dir: str | Path, out_dir: str | Path, epochs: float = 5,
                    seed: int = 0, window_s: float = 10.0, hop_s: float = DEFAULT_HOP_S
                    ) -> TuneResult:
    """Full fine-tune through `models.training.train.train` on a folder of the training
    recordings."""
    require("train", "`firstcrack tune --mode full`")
    from firstcrack.models.training.train import train

    started = time.monotonic()
    report = train(out_dir, data=data_dir, base=str(_source_dir(base)), epochs=epochs, seed=seed,
                   window_s=window_s, hop_s=hop_s, val_fraction=0.2, progress=False,
                   batch_size=8, patience=2, command="firstcrack tune --mode full")
    chunks = report.options.get("train_chunks", 0)
    return TuneResult("full", str(out_dir), int(chunks), 0, 0,
                      {"train": time.monotonic() - started}, {"best": report.best})
