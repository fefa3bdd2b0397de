"""The one assembly of the detection chain, shared by `run`, `analyze`, `evaluate`, `bench`, `demo`.

windower -> cadence (with lookback) -> pop counter -> runtime (classifier,
detector, first-crack end) -> sinks. `build_chain(config, scorer)` is the only
place these parts are put together, so every command measures or runs the
same thing, and a config file means the same in each of them.

`Chain.feed(block)` is the synchronous way through (offline analysis and
evaluation): each block goes through the cadence driver, and the windows that
became due are scored at once by `agent.core.scoring.score_due`, the very step
the live inference worker runs. `agent.live.loop.LiveLoop` runs a chain on two
threads instead (capture, then inference).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agent.config import AgentConfig
from agent.core.cadence import AdaptiveCadence, CadenceDriver
from agent.core.crack_end import CrackEndTracker
from agent.core.messages import Telemetry
from agent.core.runtime import Runtime, Scorer, SettingsPersistence
from agent.core.settings import DetectorSettings
from agent.core.sinks import Sink
from agent.core.transients import TransientCounter, attach
from agent.core.windower import Window, Windower

SAMPLE_RATE = 16000


@dataclass
class Chain:
    """One roaster's detection chain; `runtime` also takes remote commands."""

    runtime: Runtime
    driver: CadenceDriver
    key: str = ""  # the roaster's id; names its audio stream to the classifier

    @property
    def windower(self) -> Windower:
        return self.driver.windower

    @property
    def cadence(self) -> AdaptiveCadence | None:
        return self.driver.cadence

    @property
    def transients(self) -> TransientCounter:
        assert self.driver.counter is not None  # build_chain always gives one
        return self.driver.counter

    def scored(self, window: Window, telemetry: Telemetry) -> None:
        """Bookkeeping after one window was scored: the cadence hears its result."""
        self.driver.on_scored(
            window.end_s,
            telemetry.probability,
            telemetry.threshold,
            telemetry.positive_windows,
            self.runtime.first_crack_settled(),
        )

    def scored_counts(self) -> dict[str, int]:
        """Model name -> windows it scored so far (`analyze --json`'s `scored`)."""
        return dict(self.runtime.scored)

    def due_windows(self, block: np.ndarray) -> list[Window]:
        """Push one block; the windows it made due (with their lookback attached)."""
        windows = self.driver.on_block(block, self.runtime.current_settings().hop_s)
        self.runtime.advance(self.windower.total_samples / self.windower.sample_rate)
        return windows

    def feed(self, block: np.ndarray) -> int:
        """Push one block and score what became due, synchronously; returns windows scored."""
        from agent.core.scoring import score_due

        windows = self.due_windows(block)
        for window in windows:
            score_due([(self, window, 0)], self.runtime.scorer)
        return len(windows)


def build_chain(
    config: AgentConfig,
    scorer: Scorer,
    sinks: Sequence[Sink] = (),
    settings: DetectorSettings | None = None,
    persistence: SettingsPersistence | None = None,
    clock: Callable[[], float] = time.time,
) -> Chain:
    """Assemble the chain that `config` describes, with the scorer's detection profile.

    The scorer's `profile` (models/profile.py) fills the detector keys the user
    left unset (`AgentConfig.with_profile`); the state payload names the profile
    in force. `settings` overrides `config.to_settings()`.
    """
    config = config.with_profile(getattr(scorer, "profile", None))
    detector = config.detector
    runtime = Runtime(
        scorer,
        settings or config.to_settings(),
        sinks=sinks,
        window_s=detector.window_s,
        auto_arm=detector.auto_arm,
        persistence=persistence,
        clock=clock,
    )
    in_force = config.profile_in_force()
    if in_force is not None:
        runtime.state_extras["detection_profile"] = in_force.describe
    runtime.crack_end = CrackEndTracker(
        config.controller.end_quiet_s, detector.window_s, config.controller.end_pops_per_min
    )
    cadence_config = detector.to_cadence()
    cadence = AdaptiveCadence(cadence_config) if cadence_config.mode == "adaptive" else None
    transients = TransientCounter(SAMPLE_RATE)
    attach(runtime, transients)
    history_s = cadence.history_s() if cadence is not None else 0.0
    windower = Windower(SAMPLE_RATE, detector.window_s, runtime.current_settings().hop_s,
                        history_s=history_s)
    return Chain(runtime, CadenceDriver(windower, cadence, transients), key=config.agent_id)
