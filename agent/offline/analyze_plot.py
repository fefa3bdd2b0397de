"""The `analyze --plot` figure: probability over time with the detector's decisions."""

from __future__ import annotations

import json
from pathlib import Path

from firstcrack.agent.offline.analyze import AnalysisResult


def plot_analysis(result: AnalysisResult, out: Path, truth_path: Path | None = None) -> Path:
    """Probability per window, the threshold, onset and confirmation, and the true crack region.

    The ground-truth region is drawn when `truth_path` (the annotation JSON
    beside the audio) exists. Needs the [plots] extra (matplotlib).
    """
    from firstcrack.models.extras import require

    require("plots", "`analyze --plot`")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=110)
    times = [end for end, _ in result.windows]
    probs = [p for _, p in result.windows]
    if truth_path is not None and truth_path.exists():
        for i, ann in enumerate(_crack_regions(truth_path)):
            ax.axvspan(
                ann[0],
                ann[1],
                color="tab:orange",
                alpha=0.18,
                label="true first crack" if i == 0 else None,
            )
    ax.plot(times, probs, color="tab:blue", lw=1.4, marker=".", ms=3, label="p(first crack)")
    ax.axhline(
        result.settings.threshold,
        color="tab:red",
        ls="--",
        lw=1,
        label=f"threshold {result.settings.threshold:g}",
    )
    fc = result.first_crack
    if fc is not None:
        ax.axvline(fc.onset_s, color="tab:green", lw=1.6, label=f"onset {fc.onset_s:.1f} s")
        ax.axvline(
            fc.detected_at_s,
            color="tab:purple",
            lw=1.6,
            ls=":",
            label=f"confirmed {fc.detected_at_s:.1f} s",
        )
    title = "no first crack detected" if fc is None else "first crack detected"
    ax.set_title(
        f"{title} — model {result.model}, hop {result.hop_s:g} s, "
        f"{result.settings.min_positive} positives in {result.settings.confirm_s:g} s"
    )
    ax.set_xlabel("time in recording (s)")
    ax.set_ylabel("p(first crack)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, max(result.duration_s, 1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _crack_regions(truth_path: Path) -> list[tuple[float, float]]:
    try:
        data = json.loads(truth_path.read_text())
    except (OSError, ValueError):
        return []
    return [
        (float(a["start_time"]), float(a["end_time"]))
        for a in data.get("annotations", [])
        if a.get("label") == "first_crack"
    ]
