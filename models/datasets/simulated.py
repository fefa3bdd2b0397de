"""Simulated roasts written as a recordings-layout dataset (WAV + annotation JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


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
    from firstcrack.models.sim.simulator import write_roast

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
