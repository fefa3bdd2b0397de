"""Roast recording (docs/RECORDINGS.md): each roast as 16 kHz FLAC plus a JSON sidecar.

`Recorder` is a sink with an audio tap: the capture thread hands it every
block (`audio`), the scoring thread its sink calls; a writer thread of its
own does the disk work (`writer`), within the disk budget (`budget`), and
writes sidecars in the training layout (`sidecar`). A roast is spooled as
raw PCM and encoded to FLAC when it ends, so a killed agent loses nothing:
the next start recovers what it left (`spool`). It depends on `agent.core`,
`agent.config` and the sidecar contract (`models/contracts.py`) only; `live` wires it in.
"""

from __future__ import annotations

from pathlib import Path

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.recording.recorder import Recorder
from firstcrack.agent.recording.sidecar import build_sidecar


def recordings_dir(config: AgentConfig) -> Path:
    """`recording.dir`, or `<state_dir>/recordings` (shared by every roaster of the agent)."""
    return config.recording.dir or config.state_dir / "recordings"


__all__ = ["Recorder", "build_sidecar", "recordings_dir"]
