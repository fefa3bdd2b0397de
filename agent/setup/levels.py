"""Input level statistics, and when a level is too quiet to hear pops or clips.

Levels are dBFS of float samples (full scale = 1.0), measured on the raw
samples of the channels opened, before the agent mixes them to mono and
resamples to 16 kHz (a stereo input with one dead channel reads up to 6 dB
lower once mixed).

The thresholds, and why:

- **Too quiet: peak below `LOW_PEAK_DBFS` (-40 dBFS) or RMS below
  `LOW_RMS_DBFS` (-60 dBFS) over the whole measurement.** A first-crack pop
  is a transient that stands well out of the roaster's noise; if nothing in
  several seconds of a running roaster (or a tap on it) reaches 1 % of full
  scale, the pops will not either. The AST's log-mel features are not level
  normalised, so audio 30-40 dB quieter than the recordings the model learnt
  from looks different to it; and the agent scores windows quieter than
  `detector.silence_dbfs` (-70 dBFS RMS by default) as 0 without asking the
  model, so an RMS of -60 dBFS leaves only 10 dB before every window is
  treated as silence. Either figure alone is a reason to raise the gain.
- **Clipping: any sample with |x| >= `CLIP_LEVEL` (0.999).** A clipped pop
  loses the broadband shape that both the model and the pop counter look for;
  one clipped sample in a few seconds of roaster noise means the loud pops of
  first crack will clip often.
- **Digital silence: every sample exactly 0.** Real microphones always carry
  some noise; exact zeros mean a muted input or nothing connected.

Measure with the roaster running (fan and drum on), or tap the roaster near
the microphone during the measurement: a silent room can read as too quiet
with a perfectly good gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firstcrack.agent.core.scoring import SILENCE_FLOOR_DBFS, amplitude_dbfs

CLIP_LEVEL = 0.999
LOW_PEAK_DBFS = -40.0
LOW_RMS_DBFS = -60.0


@dataclass
class LevelStats:
    """Running RMS, peak and clipped-sample count over every sample added."""

    samples: int = 0
    sum_squares: float = 0.0
    peak: float = 0.0
    clipped: int = 0

    def add(self, block: np.ndarray) -> None:
        """Account for a block of float samples (any shape; every value counts)."""
        if block.size == 0:
            return
        values = np.abs(np.asarray(block, dtype=np.float64)).ravel()
        self.samples += int(values.size)
        self.sum_squares += float(np.dot(values, values))
        self.peak = max(self.peak, float(values.max()))
        self.clipped += int(np.count_nonzero(values >= CLIP_LEVEL))

    @property
    def rms(self) -> float:
        return math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0

    @property
    def rms_dbfs(self) -> float:
        return amplitude_dbfs(self.rms)

    @property
    def peak_dbfs(self) -> float:
        return amplitude_dbfs(self.peak)

    @property
    def clipped_percent(self) -> float:
        return 100.0 * self.clipped / self.samples if self.samples else 0.0

    @property
    def silent(self) -> bool:
        """Every sample was exactly zero (a muted or disconnected input)."""
        return self.samples > 0 and self.peak == 0.0

    @property
    def too_quiet(self) -> bool:
        return self.peak_dbfs < LOW_PEAK_DBFS or self.rms_dbfs < LOW_RMS_DBFS

    def warnings(self) -> list[str]:
        """What is wrong with this level for hearing first crack; empty when it is fine."""
        found = []
        if self.silent:
            found.append(
                "the input is digital silence (every sample 0): the microphone is muted or "
                "not connected; unmute it (alsamixer, pavucontrol) or pick another device"
            )
        elif self.too_quiet:
            found.append(
                f"level too low to hear pops (peak {fmt_db(self.peak_dbfs)}, RMS "
                f"{fmt_db(self.rms_dbfs)}; want peak >= {LOW_PEAK_DBFS:.0f} dBFS and RMS >= "
                f"{LOW_RMS_DBFS:.0f} dBFS with the roaster running): raise the input gain "
                "(alsamixer capture level, the interface's gain knob) or move the microphone closer"
            )
        if self.clipped:
            found.append(
                f"clipping: {self.clipped} samples ({self.clipped_percent:.3f} %) at full scale; "
                "lower the input gain until loud pops stay below full scale"
            )
        return found

    def summary(self) -> str:
        """One line: RMS, peak and clipped samples."""
        return (
            f"RMS {fmt_db(self.rms_dbfs)}, peak {fmt_db(self.peak_dbfs)}, clipped "
            f"{self.clipped} of {self.samples} samples ({self.clipped_percent:.3f} %)"
        )


def fmt_db(level: float) -> str:
    """`-12.3 dBFS`, or `-inf dBFS` at the floor (exact zeros)."""
    return "-inf dBFS" if level <= SILENCE_FLOOR_DBFS else f"{level:.1f} dBFS"
