"""Rebuild the shipped ear (`models/demo`): cache features, fit the head, pick the rule.

    python -m firstcrack.models.training.ear_train --out runs/ear-cache  # simulate, featurize
    python -m firstcrack.models.training.ear_select fit --cache runs/ear-cache --out runs/ear-model
    python -m firstcrack.models.training.ear_select report --cache runs/ear-cache \
        --model runs/ear-model

Three disjoint seed ranges (`SPLITS`), decided once and never reused for anything else:

- `train` fits the head (logistic regression, models/inference/ear_head.py) on labelled windows;
- `select` picks the feature set, the L2 strength, the rule and the threshold by
  event-level figures only: misses, false alarms per hour, delay
  (models/training/ear_select.py, through the agent's own detector);
- `test` is only ever reported. Nothing is chosen on it.

Every roast is featurized once on the agent's grid (`WINDOW_S`, `HOP_S`), so selection and
the report replay the live detector over cached scores exactly as the chain would score
the same audio at a fixed hop (models/training/ear_data.py).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from firstcrack.models.training.ear_data import (
    RoastFeatures,
    RoastSpec,
    load,
    popcorn_features,
    roast_features,
    save,
)

WINDOW_S = 2.0
HOP_S = 1.0
TRAIN_DURATION_S = 300.0
"""Part of the training roasts are short (the simulator compresses the timeline to fit
first crack), so the same CPU buys more roasters, rooms and microphones; the rest have the
drawn, natural length that the select and test roasts have."""


def _crack_sparse(i: int) -> bool | None:
    """Every third crack roast forced sparse; the rest drawn (about 30 % sparse)."""
    return True if i % 3 == 0 else None


def specs() -> list[RoastSpec]:
    """Every roast of every split (seeds far from any other use in the project)."""
    out = []
    out += [RoastSpec(20_000 + i, True, _crack_sparse(i), TRAIN_DURATION_S, "train")
            for i in range(48)]
    out += [RoastSpec(20_500 + i, False, None, TRAIN_DURATION_S, "train") for i in range(16)]
    out += [RoastSpec(20_100 + i, True, _crack_sparse(i), None, "train") for i in range(40)]
    out += [RoastSpec(20_600 + i, False, None, None, "train") for i in range(16)]
    out += [RoastSpec(21_000 + i, True, i % 2 == 0, None, "select") for i in range(24)]
    out += [RoastSpec(21_500 + i, False, None, None, "select") for i in range(12)]
    out += [RoastSpec(22_000 + i, True, i >= 20, None, "test") for i in range(40)]
    out += [RoastSpec(22_500 + i, False, None, None, "test") for i in range(26)]
    return out


_EARS: dict[str, object] = {}
"""One backbone session per feed, per worker process."""


def _featurize(feed: str, windows: np.ndarray) -> np.ndarray:
    """Ear features with the backbone fed by `feed` (models/inference/ear.py: upsample or mel16)."""
    from firstcrack.models.inference.ear import PretrainedEar
    from firstcrack.models.inference.ear_head import ear_features

    ear = _EARS.get(feed)
    if ear is None:
        ear = _EARS[feed] = PretrainedEar(threads=1, feed=feed)
    return ear_features(*ear(windows))  # type: ignore[operator]


def _cache_one(spec: RoastSpec, out: str, feed: str) -> str:
    path = Path(out) / f"{spec.key}.npz"
    if not path.exists():
        tmp = path.with_suffix(".tmp.npz")
        save(tmp, roast_features(spec, functools.partial(_featurize, feed), WINDOW_S, HOP_S))
        tmp.rename(path)
    return spec.key


def cache(out: Path, workers: int, feed: str = "upsample",
          splits: tuple[str, ...] = ("train", "select", "test")) -> None:
    """Featurize every roast of `specs()` in `splits` (and the vendored popcorn) into `out`,
    resumably, feeding the backbone with `feed`."""
    out.mkdir(parents=True, exist_ok=True)
    popcorn = out / "popcorn.json"
    if not popcorn.exists():
        for roast in popcorn_features(functools.partial(_featurize, feed), WINDOW_S, HOP_S):
            save(out / f"train-{roast.key}.npz", roast)
        popcorn.write_text("done\n")
    todo = [s for s in specs() if s.split in splits]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(_cache_one, todo, [str(out)] * len(todo), [feed] * len(todo))
        for n, key in enumerate(jobs, 1):
            print(f"[{n}/{len(todo)}] {key}", flush=True)


def load_split(folder: Path, split: str) -> list[RoastFeatures]:
    return [load(p) for p in sorted(folder.glob(f"{split}-*.npz")) if ".tmp." not in p.name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firstcrack.models.training.ear_train",
                                     description="simulate and featurize the ear's roasts")
    parser.add_argument("--out", type=Path, default=Path("runs/ear-cache"))
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--feed", choices=("upsample", "mel16"), default="upsample")
    parser.add_argument("--splits", nargs="+", default=["train", "select", "test"])
    args = parser.parse_args(argv)
    cache(args.out, args.workers, args.feed, tuple(args.splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
