"""Simulated "user roasts" in the agent recorder's layout (docs/RECORDINGS.md).

Each roast is `STEM.flac` (16 kHz mono, 16-bit) and `STEM.json`, a sidecar with the
training annotation layout plus the `firstcrack` block. The label is what a user would
give: a `first_crack` mark a little after the true onset (people press the button when
they are sure, `mark_delay_s`), so `label_source` is "user" and the region runs from the
mark to the true end (or 120 s). A no-crack roast carries a `false_alarm` mark and no
region. `label_source="agent"` writes an uncorrected roast instead (no marks).
Tests and `scripts/measure_tune.py` use it to feed `firstcrack tune`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from firstcrack.models.contracts import SAMPLE_RATE, Sidecar
from firstcrack.models.sim.simulator import RoastTruth

Render = Callable[[int, float, bool], tuple[np.ndarray, RoastTruth]]
"""(seed, duration_s, crack) -> (16 kHz mono float32, truth)."""


def sidecar(stem: str, truth: RoastTruth, label_source: str = "user", mark_delay_s: float = 3.0,
            model: str = "demo") -> dict:
    """The recorder sidecar for one simulated roast (see the module docstring)."""
    onset, end = truth.first_crack_onset_s, truth.first_crack_end_s
    marks: list[dict] = []
    annotations: list[dict] = []
    if label_source == "user":
        if onset is None:
            marks.append({"kind": "false_alarm", "t_s": round(truth.duration / 2, 3),
                          "ts": None, "origin": "mqtt"})
        else:
            mark = min(onset + mark_delay_s, truth.duration - 1.0)
            marks.append({"kind": "first_crack", "t_s": round(mark, 3), "ts": None,
                          "origin": "mqtt"})
            stop = min(max(end or 0.0, mark + 120.0) if end is None else end, truth.duration)
            annotations.append({"start_time": round(mark, 3), "end_time": round(stop, 3),
                                "label": "first_crack"})
    return Sidecar(
        audio_file=f"{stem}.flac", duration=truth.duration, annotations=annotations,
        label_source=label_source, agent_id="sim", end_reason="drop", model=model,
        charge_s=0.0, drop_s=truth.duration, marks=marks, extra={"sim_seed": truth.seed},
    ).to_json()


def write_user_roasts(out_dir: str | Path, seeds: Iterable[int], render: Render,
                      duration_s: float = 420.0, no_crack_seeds: Iterable[int] = (),
                      label_source: str = "user", mark_delay_s: float = 3.0) -> list[Path]:
    """Write one FLAC + sidecar per seed into `out_dir` (`roast_SEED.flac`); returns the
    FLAC paths. `render` is e.g. `firstcrack.models.sim.unlike.simulate_unlike`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for crack, group in ((True, seeds), (False, no_crack_seeds)):
        for seed in group:
            stem = f"roast_{seed:05d}"
            audio, truth = render(seed, duration_s, crack)
            sf.write(out / f"{stem}.flac", audio, SAMPLE_RATE, subtype="PCM_16")
            doc = sidecar(stem, truth, label_source, mark_delay_s)
            (out / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
            paths.append(out / f"{stem}.flac")
    return paths
