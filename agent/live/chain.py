"""The one assembly of the detection chain, shared by `run`, `analyze`, `evaluate`, `bench`, `demo`.

windower -> cadence (with lookback) -> pop counter -> runtime (classifier,
detector, first-crack end) -> sinks. `build_chain(config, scorer)` is the only
place these parts are put together, so every command measures or runs the
same thing, and a config file means the same in each of them.

`Chain.feed(block)` is the synchronous way through (offline analysis and
evaluation): each block goes through the cadence driver, and the windows that
became due are scored at once by `firstcrack.agent.core.scoring.score_due`, the very step
the live inference worker runs. `firstcrack.agent.live.loop.LiveLoop` runs a chain on two
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

from firstcrack.agent.config import AgentConfig, ConfigError
from firstcrack.agent.config.model import ProfileInForce
from firstcrack.agent.core.cadence import AdaptiveCadence, CadenceDriver
from firstcrack.agent.core.command_queue import SecondCrackScore
from firstcrack.agent.core.crack_end import CrackEndTracker
from firstcrack.agent.core.gate import EarGate
from firstcrack.agent.core.messages import Telemetry
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.runtime import Runtime, SettingsPersistence
from firstcrack.agent.core.second_crack import SecondCrackSettings, SecondCrackWatch
from firstcrack.agent.core.sinks import Sink
from firstcrack.agent.core.transients import TransientCounter
from firstcrack.agent.core.windower import Window, Windower
from firstcrack.models.contracts import SAMPLE_RATE, Scorer

log = logging.getLogger("firstcrack.chain")


@dataclass
class Chain:
    """One roaster's detection chain; `runtime` also takes remote commands."""

    runtime: Runtime
    driver: CadenceDriver
    key: str = ""  # the roaster's id; names its audio stream to the classifier
    windows_scored: int = 0  # by the main model (silent windows are not scored)
    second_crack_from_main: bool = False  # the main model hears second crack too

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
        cadence = self.driver.cadence
        if self.second_crack_from_main and self.runtime.searching_second_crack():
            settled = False  # listen densely: second crack is decided on the main model
            if cadence is not None:
                cadence.wake(window.end_s)
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
        from firstcrack.agent.core.scoring import score_due

        windows = self.due_windows(block)
        for window in windows:
            score_due([(self, window, 0)], self.runtime.scorer)
        return len(windows)


class ProfileField:
    """The detection profile in force, in `state` (the `profile` payload provider)."""

    provider = "profile"

    def __init__(self, in_force: ProfileInForce) -> None:
        self._in_force = in_force

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        return {"detection_profile": self._in_force.describe()} if topic == "state" else {}


def check_window(config: AgentConfig, scorer: Scorer) -> None:
    """Refuse a model whose input does not match the chain's windows.

    A model declares its `sample_rate` and `window_samples` (models/inference/classifier.py).
    Audio at another rate would be misheard, and a window of another length would be
    zero-padded or cut by the model's front end, so neither is ever fed silently: the
    error names both lengths and the key to change. A scorer that declares neither
    (a test's fake) is taken as it is.
    """
    rate = getattr(scorer, "sample_rate", None)
    if rate is not None and rate != SAMPLE_RATE:
        raise ConfigError(f"model {scorer.name!r} wants {rate} Hz audio; the agent scores "
                          f"{SAMPLE_RATE} Hz windows")
    samples = getattr(scorer, "window_samples", None)
    window_s = config.detector.window_s
    if samples is not None and abs(window_s * SAMPLE_RATE - samples) >= 1:
        raise ConfigError(
            f"detector.window_s: {window_s:g} s windows do not fit model {scorer.name!r}, "
            f"which takes {samples / SAMPLE_RATE:g} s windows; leave detector.window_s unset "
            "(the model's detection profile sets it) or set it to the model's window",
            keys=("detector.window_s",))


def build_chain(
    config: AgentConfig,
    scorer: Scorer,
    sinks: Sequence[Sink] = (),
    persistence: SettingsPersistence | None = None,
    clock: Callable[[], float] = time.time,
) -> Chain:
    """Assemble the chain that `config` describes, with the scorer's detection profile.

    The scorer's `profile` (models/inference/profile.py) fills the detector keys the user
    left unset (`AgentConfig.with_profile`); the state payload names the profile in
    force. Raises ConfigError when the model's window does not fit (`check_window`).
    The live agent (agent/live/app.py) adds its edges' sinks and payload providers to
    the runtime; offline callers pass their `sinks` here.
    """
    config = config.with_profile(getattr(scorer, "profile", None))
    check_window(config, scorer)
    detector = config.detector
    gate_ear = shipped_ear() if wants_gate(config, scorer) else None
    sc_source = second_crack_source(config, scorer, gate_ear)
    runtime = Runtime(
        scorer,
        config.to_settings(),
        sinks=sinks,
        window_s=detector.window_s,
        auto_arm=detector.auto_arm,
        persistence=persistence,
        clock=clock,
        crack_end=CrackEndTracker(config.controller.end_quiet_s, detector.window_s,
                                  config.controller.end_pops_per_min),
        second_crack=None if sc_source is None else SecondCrackWatch(_sc_settings(
            config, sc_source.second_crack_profile)),
    )
    on_second_crack = None
    if sc_source is not None and sc_source is gate_ear:  # the ear in front of the AST hears it
        def on_second_crack(end_s: float, p: float) -> None:
            runtime.submit(SecondCrackScore(end_s, p))
    gate = None if gate_ear is None else ear_gate(config, gate_ear, on_second_crack)
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
        runtime.add_provider(ProfileField(in_force))
    cadence = AdaptiveCadence(cadence_config) if cadence_config.mode == "adaptive" else None
    transients = TransientCounter(SAMPLE_RATE)
    runtime.add_provider(transients)
    history_s = cadence.history_s() if cadence is not None else 0.0
    windower = Windower(SAMPLE_RATE, detector.window_s, runtime.current_settings().hop_s,
                        history_s=history_s)
    driver = CadenceDriver(windower, cadence, transients, gate)
    return Chain(runtime, driver, key=config.agent_id,
                 second_crack_from_main=sc_source is not None and sc_source is scorer)


def wants_gate(config: AgentConfig, scorer: Scorer) -> bool:
    """The ear gates an AST main model when `detector.gate` is `auto`."""
    return config.detector.gate != "off" and getattr(scorer, "architecture", "") == "ast"


def ear_gate(config: AgentConfig, ear: Any,
             on_second_crack: Callable[[float, float], None] | None = None) -> EarGate:
    """The ear gate in front of an AST main model (`wants_gate`).

    The ear wakes the AST on two positive windows within 10 s (p at or above the threshold
    of its own detection profile; agent/core/gate.py), and the AST stays dense for one
    window (`window_s`, or `cadence_hold_s` if shorter) after the last wake, or while it
    holds positives itself (how these were chosen: docs/PERFORMANCE.md, "The ear gate").
    The ear is the shipped `demo` model, loaded once per process with one thread. If it
    cannot be loaded the agent runs ungated (a warning, never a failure): the AST alone
    is the slower but complete detector.
    """
    profile = ear.profile
    return EarGate(ear, profile.window_s, profile.hop_s, profile.threshold,
                   config.detector.gate_idle_s, SAMPLE_RATE, stream=config.agent_id,
                   on_second_crack=on_second_crack)


def second_crack_source(config: AgentConfig, scorer: Scorer, gate_ear: Any) -> Any:
    """Who hears second crack: the main model when it can, else the ear gating an AST;
    None when `detector.second_crack` is off or neither can."""
    if config.detector.second_crack == "off":
        return None
    for source in (scorer, gate_ear):
        if source is not None and getattr(source, "hears_second_crack", False):
            return source
    return None


def _sc_settings(config: AgentConfig, profile: Any) -> SecondCrackSettings:
    return SecondCrackSettings(threshold=profile.threshold, rule=profile.rule,
                               min_positive=profile.min_positive, confirm_s=profile.confirm_s,
                               window_s=profile.window_s,
                               min_roast_s=config.detector.second_crack_min_roast_s)


@functools.cache
def shipped_ear() -> Any:
    """The shipped ear (`--model demo`) on one thread, or None with a warning."""
    from firstcrack.models.inference.classifier import ModelLoadError, load_classifier

    try:
        return load_classifier("demo", threads=1)
    except ModelLoadError as exc:
        log.warning("the ear gate is off: %s", exc)
        return None
