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

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.config import AgentConfig
from agent.core.cadence import AdaptiveCadence, CadenceDriver
from agent.core.crack_end import CrackEndTracker
from agent.core.gate import EarGate
from agent.core.messages import Telemetry
from agent.core.runtime import Runtime, Scorer, SettingsPersistence
from agent.core.settings import DetectorSettings
from agent.core.sinks import Sink
from agent.core.transients import TransientCounter, attach
from agent.core.windower import Window, Windower

SAMPLE_RATE = 16000
log = logging.getLogger("firstcrack.chain")


@dataclass
class Chain:
    """One roaster's detection chain; `runtime` also takes remote commands."""

    runtime: Runtime
    driver: CadenceDriver
    key: str = ""  # the roaster's id; names its audio stream to the classifier
    windows_scored: int = 0  # by the main model (silent windows are not scored)

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
        """Bookkeeping after one window was scored: the cadence hears its result.

        Ungated, the cadence stays dense until first crack has settled (its end is
        timed as finely as its onset). Gated, it idles again once first crack is
        confirmed: the ear's whole point is that the AST runs rarely, so the end of
        first crack is decided on the AST's idle checks (up to `gate_idle_s` later).
        """
        if not telemetry.silent:
            self.windows_scored += 1
        if self.driver.gate is not None:  # confirmed, or no roast running: idle checks only
            settled = telemetry.phase != "armed"
        else:
            settled = self.runtime.first_crack_settled()
        self.driver.on_scored(
            window.end_s,
            telemetry.probability,
            telemetry.threshold,
            telemetry.positive_windows,
            settled,
        )

    def scored_counts(self) -> dict[str, int]:
        """Model name -> windows it scored so far (`analyze --json`'s `scored`)."""
        counts = {self.runtime.scorer.name: self.windows_scored}
        gate = self.driver.gate
        if gate is not None:
            counts[gate.ear.name] = counts.get(gate.ear.name, 0) + gate.windows_scored
        return counts

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
    gate = ear_gate(config, scorer)
    cadence_config = detector.to_cadence()
    if gate is not None:  # the AST idles at the gate's idle check; the ear, not pops, wakes it
        cadence_config = dataclasses.replace(
            cadence_config, mode="adaptive", idle_hop_s=detector.gate_idle_s, pops_per_min=0.0,
            rise_fraction=1.0,  # the AST's own p keeps it dense only once it is positive
            hold_s=min(detector.cadence_hold_s, detector.window_s),
            max_lookback_s=detector.window_s + gate.windower.window_samples / SAMPLE_RATE,
        )
    in_force = config.profile_in_force()
    if in_force is not None:
        runtime.state_extras["detection_profile"] = in_force.describe
    runtime.crack_end = CrackEndTracker(
        config.controller.end_quiet_s, detector.window_s, config.controller.end_pops_per_min
    )
    cadence = AdaptiveCadence(cadence_config) if cadence_config.mode == "adaptive" else None
    transients = TransientCounter(SAMPLE_RATE)
    attach(runtime, transients)
    history_s = cadence.history_s() if cadence is not None else 0.0
    windower = Windower(SAMPLE_RATE, detector.window_s, runtime.current_settings().hop_s,
                        history_s=history_s)
    driver = CadenceDriver(windower, cadence, transients, gate)
    return Chain(runtime, driver, key=config.agent_id)


def ear_gate(config: AgentConfig, scorer: Scorer) -> EarGate | None:
    """The ear gate for `scorer`: only for an AST main model with `detector.gate: auto`.

    The ear wakes the AST on two positive windows within 10 s (p at or above the threshold
    of its own detection profile; agent/core/gate.py), and the AST stays dense for one
    window (`window_s`, or `cadence_hold_s` if shorter) after the last wake, or while it
    holds positives itself. Measured on the ear's select roasts: waking at half the
    threshold kept the AST dense nearly all the time; on single positives and a 30 s hold
    the AST scored 4-7x fewer windows than a fixed 3 s hop; with these settings 6-12x.
    The ear is the shipped `demo` model, loaded once per process with one thread. If it
    cannot be loaded the agent runs ungated (a warning, never a failure): the AST alone
    is the slower but complete detector.
    """
    if config.detector.gate == "off" or getattr(scorer, "architecture", "") != "ast":
        return None
    ear = shipped_ear()
    if ear is None:
        return None
    profile = ear.profile
    return EarGate(ear, profile.window_s, profile.hop_s, profile.threshold,
                   config.detector.gate_idle_s, SAMPLE_RATE, stream=config.agent_id)


@functools.cache
def shipped_ear() -> Any:
    """The shipped ear (`--model demo`) on one thread, or None with a warning."""
    from models.classifier import ModelLoadError, load_classifier

    try:
        return load_classifier("demo", threads=1)
    except ModelLoadError as exc:
        log.warning("the ear gate is off: %s", exc)
        return None
