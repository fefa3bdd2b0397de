"""Bench: two roasters on one agent versus two separate agents (CPU per roast-minute, memory).

Both sides push the same two simulated roasts through the live code path at a
fixed hop. The shared side drives two `LiveLoop` lanes in lockstep and scores
their due windows with `SharedInference._score`, the batching code the agent
runs; the separate side gives each roast its own freshly loaded classifier,
as two agent processes would. Audio is fed as fast as possible (no pacing),
so the figure is pure work: process CPU seconds per roast-minute.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.extras import require

require("bench")
import psutil  # noqa: E402 - after the check that names the extra to install

CHUNK = 1600  # 0.1 s blocks, as a live source delivers them


def _lanes(audios: list[np.ndarray], scorer: Any, hop_s: float) -> list[Any]:
    import threading

    from firstcrack.agent.config import AgentConfig
    from firstcrack.agent.live.chain import build_chain
    from firstcrack.agent.live.loop import LiveLoop

    cond = threading.Condition()
    config = AgentConfig().with_detector(hop_s=hop_s, cadence="fixed")
    # One agent_id each: it names the roaster's feature state in the shared model.
    configs = [config.model_copy(update={"agent_id": f"roaster{i}"}) for i in range(len(audios))]
    return [LiveLoop(iter(()), build_chain(c, scorer), cond=cond) for c in configs]


def _drive_shared(audios: list[np.ndarray], scorer: Any, hop_s: float) -> int:
    """Lockstep: every block of every roast, then one batch of whatever became due."""
    from firstcrack.agent.core.scoring import score_due

    lanes = _lanes(audios, scorer, hop_s)
    scored = 0
    n = max(len(a) for a in audios)
    for start in range(0, n, CHUNK):
        due = []
        for lane, audio in zip(lanes, audios, strict=True):
            chunk = audio[start : start + CHUNK]
            due += [(lane, w, 0) for w in lane.chain.due_windows(chunk)]
        if due:
            scored += sum(score_due(due, scorer))
    return scored


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def two_roasters(
    model_dir: Path,
    seeds: tuple[int, int] = (31, 37),
    duration_s: float = 300.0,
    hop_s: float = 3.0,
    threads: int = 2,
) -> dict[str, Any]:
    """CPU per roast-minute and model memory: one agent with two roasters vs two agents."""
    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.sim.simulator import simulate_roast

    audios = [simulate_roast(seed, duration_s=duration_s)[0] for seed in seeds]
    roast_minutes = sum(len(a) for a in audios) / SAMPLE_RATE / 60

    def load() -> Any:
        return load_classifier(str(model_dir), backend="auto", threads=threads)

    gc.collect()
    before = _rss_mb()
    shared_scorer = load()
    one_model_mb = _rss_mb() - before
    shared_scorer.predict(audios[0][None, : 10 * SAMPLE_RATE])  # warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    scored_shared = _drive_shared(audios, shared_scorer, hop_s)
    shared_cpu, shared_wall = time.process_time() - c0, time.perf_counter() - t0

    separate_cpu = separate_wall = 0.0
    scored_separate = 0
    second_model_mb = 0.0
    for audio in audios:
        gc.collect()
        before = _rss_mb()
        scorer = load()
        second_model_mb = max(second_model_mb, _rss_mb() - before)
        scorer.predict(audio[None, : 10 * SAMPLE_RATE])
        c0, t0 = time.process_time(), time.perf_counter()
        scored_separate += _drive_shared([audio], scorer, hop_s)
        separate_cpu += time.process_time() - c0
        separate_wall += time.perf_counter() - t0
    return {
        "model": str(model_dir),
        "backend": shared_scorer.backend,
        "roasts": list(seeds),
        "roast_minutes": round(roast_minutes, 2),
        "windows_scored": {"one_agent": scored_shared, "two_agents": scored_separate},
        "one_agent_two_roasters": {
            "cpu_s_per_roast_min": round(shared_cpu / roast_minutes, 3),
            "wall_s": round(shared_wall, 2),
        },
        "two_separate_agents": {
            "cpu_s_per_roast_min": round(separate_cpu / roast_minutes, 3),
            "wall_s": round(separate_wall, 2),
        },
        "cpu_ratio_separate_over_shared": round(separate_cpu / max(shared_cpu, 1e-9), 3),
        "model_rss_mb": round(max(one_model_mb, second_model_mb), 1),
        "note": "two separate agents also hold the model twice (model_rss_mb each) and run "
        "two MQTT clients; one agent holds it once",
    }


def render(result: dict[str, Any]) -> list[str]:
    shared = result["one_agent_two_roasters"]
    separate = result["two_separate_agents"]
    return [
        "",
        f"two roasters ({result['roast_minutes']} roast-min, {result['backend']}, "
        f"fixed hop): CPU s per roast-minute",
        f"  one agent, two roasters   {shared['cpu_s_per_roast_min']:8.3f}",
        f"  two separate agents       {separate['cpu_s_per_roast_min']:8.3f}  "
        f"(x{result['cpu_ratio_separate_over_shared']:.2f} of one agent)",
        f"  model memory per agent    {result['model_rss_mb']:8.1f} MB (held once by one agent)",
    ]
