"""`firstcrack doctor`: everything a first roast needs, checked in one go.

Order: the config (nothing else can run without it), the state directory, the
model, each roaster's audio source, the broker, then Home Assistant discovery
for each roaster (skipped when the broker check failed: it would only repeat
that failure). One line per check as it finishes, so a slow model load or
microphone check shows what it is waiting for.

Exit code: 1 when any check FAILs, else 0; a WARN (quiet microphone, no
discovery yet) or a SKIP does not fail. An invalid config is a FAIL like any
other, so exit 1, not the usual 2 for a bad config: `doctor`'s contract is
"1 means something needs fixing, and the lines say what"; 2 stays for using
`doctor` itself wrongly (an unknown flag).

Timeouts (`bounded`): the model may download on its first use, so it gets
`MODEL_TIMEOUT_S`; the microphone its capture time plus the device's start-up
grace; the broker checks a connect timeout each. Loading the config and the
state-directory check are local file operations and run directly.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from firstcrack.agent.config import (
    DEFAULT_CONFIG_PATH,
    AgentConfig,
    AudioConfig,
    ConfigError,
    load_config,
)
from firstcrack.agent.config.model import ProfileInForce
from firstcrack.agent.recording import recordings_dir
from firstcrack.agent.setup.capture import FIRST_AUDIO_S, SETTLE_S, device_param, measure
from firstcrack.agent.setup.checks import (
    CheckResult,
    Status,
    bounded,
    exit_code,
    failed,
    format_result,
    passed,
    skipped,
    tally,
    warned,
)
from firstcrack.agent.setup.doctor_mqtt import check_broker, check_discovery
from firstcrack.agent.sources import SPEC_FORMS, SourceError, open_source
from firstcrack.models.contracts import SAMPLE_RATE

MIC_SECONDS = 2.5
MODEL_TIMEOUT_S = 180.0
BROKER_TIMEOUT_S = 5.0
PICK_MIC = (
    "run `firstcrack devices` to list the inputs and `firstcrack devices --meter NAME` to "
    "test one; set audio.device (or the roaster's `source: mic:NAME`) to it"
)
OPEN_MIC = (
    "a device held by another program (a running agent, a recorder) cannot be opened: stop "
    "that first; check the microphone is unmuted and its cable seated, and watch it with "
    "`firstcrack devices --meter NAME`"
)


def config_file(path: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """The file `load_config(path)` reads, as the user would name it."""
    environ = os.environ if environ is None else environ
    if path is not None:
        return str(path)
    if environ.get("FIRSTCRACK_CONFIG"):
        return environ["FIRSTCRACK_CONFIG"]
    return str(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else "(built-in defaults)"


def check_config(
    path: Path | None, overrides: Mapping[str, Any] | None = None
) -> tuple[CheckResult, AgentConfig | None]:
    """The config loads and validates; the config itself for the other checks."""
    shown = config_file(path)
    try:
        config = load_config(path, overrides=overrides)
    except ConfigError as exc:
        if exc.keys:
            keys = ", ".join(exc.keys)
            fix = (
                f"correct {keys} in {shown} (or the FIRSTCRACK_ environment variable that "
                "sets it); config/agent.yaml documents every key and range"
            )
        else:
            fix = "give an existing, readable YAML file with --config"
        return failed("config", str(exc), fix), None
    ids = [r.agent_id for r in config.roasters] or [config.agent_id]
    who = f"{len(ids)} roaster{'s' if len(ids) > 1 else ''}: {', '.join(ids)}"
    return passed("config", f"{shown} loads and validates ({who})"), config


def _probe_writable(path: Path) -> None:
    """Create `path` if need be and write, sync and remove a file in it; OSError if not."""
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-") as probe:
        probe.write(b"firstcrack doctor\n")
        probe.flush()
        os.fsync(probe.fileno())


def check_state_dir(config: AgentConfig, agent_id: str) -> CheckResult:
    """`<state_dir>/<agent_id>` exists (created if need be) and takes a new file."""
    name = "state dir" if not config.roasters else f"state dir ({agent_id})"
    path = config.state_dir / agent_id
    existed = path.is_dir()
    try:
        _probe_writable(path)
    except OSError as exc:
        return failed(name, f"{path} is not writable: {exc}",
                      "set state_dir (FIRSTCRACK_STATE_DIR) to a directory this user can "
                      f"write, or give this user {path}; the MQTT outbox and /set values "
                      "live there")  # fmt: skip
    return passed(name, f"{path} is writable{'' if existed else ' (created)'}")


def check_recording(config: AgentConfig) -> CheckResult:
    """When recording is on: its folder takes a file, and the disk has room (README,
    "Learning from your own roasts")."""
    rec = config.recording
    if not rec.enabled:
        return skipped("recording", "off (recording.enabled: false)")
    path = recordings_dir(config)
    try:
        _probe_writable(path)
        free_gb = shutil.disk_usage(path).free / 1e9
    except OSError as exc:
        return failed("recording", f"{path} is not writable: {exc}",
                      "set recording.dir to a folder this user can write")
    used_mb = sum(f.stat().st_size for f in path.glob("*.flac")) / 2**20
    detail = f"{path}: {used_mb:.0f} MB of recordings, {free_gb:.1f} GB free"
    if free_gb < rec.min_free_gb:
        return warned("recording", detail + f", under recording.min_free_gb ({rec.min_free_gb:g})",
                      "free some disk or lower recording.min_free_gb; until then the oldest "
                      "recordings you did not label are deleted, and recording pauses")
    return passed("recording", detail)


def probe_window(samples: int, seed: int = 0) -> np.ndarray:
    """Half digital silence, half noise at about -30 dBFS: one window of each kind of input."""
    window = np.zeros(samples, dtype=np.float32)
    noise = np.random.default_rng(seed).standard_normal(samples - samples // 2)
    window[samples // 2 :] = (0.03 * noise).astype(np.float32)
    return window


def _profile_line(config: AgentConfig, in_force: ProfileInForce) -> str:
    """`model profile: evidence 3 in 20 s, p >= 0.5, 3 s windows every 1 s` (in effect)."""
    d = config.detector
    return (f"{in_force.summary()}: {d.rule} {d.min_positive} in {d.confirm_s:g} s, "
            f"p >= {d.threshold:g}, {d.window_s:g} s windows every {d.hop_s:g} s")


def check_model(config: AgentConfig) -> CheckResult:
    """The model loads with the configured backend and threads and scores a window."""
    from firstcrack.models.inference.classifier import ModelLoadError, load_classifier

    start = time.perf_counter()
    try:
        model = load_classifier(config.model, backend=config.backend, threads=config.threads)
    except ModelLoadError as exc:
        return failed("model", str(exc),
                      "the published model downloads once from Hugging Face (network needed the "
                      "first time, then cached); offline, set `model: demo` to try the agent or "
                      "give a local save_pretrained directory or .onnx file")  # fmt: skip
    loaded_s = time.perf_counter() - start
    samples = int(getattr(model, "window_samples", 0) or config.detector.window_s * SAMPLE_RATE)
    start = time.perf_counter()
    p = float(np.asarray(model.predict(probe_window(samples)[None, :]))[0])
    scored_ms = (time.perf_counter() - start) * 1000
    applied = config.with_profile(getattr(model, "profile", None))
    in_force = applied.profile_in_force()
    profile = "" if in_force is None else f"; detection: {_profile_line(applied, in_force)}"
    detail = (f"{config.model} ({model.backend}) loaded in {loaded_s:.2f} s; a test window "
              f"scored p={p:.2f} in {scored_ms:.0f} ms{profile}")  # fmt: skip
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        broken = "the model's output is broken: re-export it or use another model"
        return failed("model", detail + " (not a probability)", broken)
    return passed("model", detail)


def check_source(
    spec: str, audio: AudioConfig, channel: int | None = None, name: str = "microphone",
    seconds: float = MIC_SECONDS,
) -> CheckResult:  # fmt: skip
    """A `mic` source opens and delivers audio at a usable level; file/sim ones are readable."""
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "mic":
        device = audio.device if not sep else (device_param(arg) if arg.strip() else "")
        if device == "":
            return failed(name, f"empty device in {spec!r}", f"forms: {SPEC_FORMS}")
        return _check_mic(device, audio, channel, name, seconds)
    if kind == "sim":
        return passed(name, f"{spec}: a simulated roast, no device needed")
    try:
        source = open_source(spec, audio, channel=channel)  # file: reads the header and a block
    except SourceError as exc:
        fix = f"forms: {SPEC_FORMS}" if kind != "file" else "give a readable wav/flac/ogg file"
        return failed(name, str(exc), fix)
    length = getattr(source, "duration_s", None)
    source.close()
    return passed(name, f"{spec} is readable" + (f" ({length:.1f} s)" if length else ""))


def _check_mic(
    device: str | int | None, audio: AudioConfig, channel: int | None, name: str, seconds: float
) -> CheckResult:
    try:
        result = measure(device, seconds, channel=channel, sample_rate=audio.sample_rate,
                         channels=audio.channels)  # fmt: skip
    except SourceError as exc:
        message = str(exc)
        return failed(name, message, PICK_MIC if message.startswith("no ") else OPEN_MIC)
    detail = f"{result.describe()}: {result.seconds:.1f} s, {result.stats.summary()}"
    warnings = result.stats.warnings()
    if result.stats.silent:
        return failed(name, f"{detail}; {warnings[0]}", OPEN_MIC)
    if warnings:
        return warned(name, f"{detail}; {'; '.join(warnings)}",
                      "with the roaster running, watch `firstcrack devices --meter "
                      f"{result.index}` and adjust the gain until no warning remains")  # fmt: skip
    return passed(name, detail)


def _roasters(config: AgentConfig, source: str | None) -> list[tuple[str, str, int | None]]:
    """(agent_id, source spec, channel) for every roaster `run` would start."""
    if config.roasters:
        return [(r.agent_id, r.source, r.channel) for r in config.roasters]
    return [(config.agent_id, source or "mic", None)]


def run_doctor(
    config_path: Path | None,
    out: TextIO,
    overrides: Mapping[str, Any] | None = None,
    source: str | None = None,
    mic_seconds: float = MIC_SECONDS,
) -> int:
    """Run every check, printing each line as it finishes; 1 when any failed."""
    results: list[CheckResult] = []

    def emit(result: CheckResult) -> CheckResult:
        results.append(result)
        out.write(format_result(result) + "\n")
        out.flush()
        return result

    def run(name: str, timeout_s: float, check: Callable[[], CheckResult]) -> CheckResult:
        return emit(bounded(name, timeout_s, check))

    config_result, config = check_config(config_path, overrides)
    emit(config_result)
    if config is None:
        for name in ("state dir", "recording", "model", "audio source", "broker", "discovery"):
            emit(skipped(name, "the config did not load"))
    else:
        roasters = _roasters(config, source)
        many = len(roasters) > 1
        for agent_id, _, _ in roasters:
            emit(check_state_dir(config, agent_id))
        emit(check_recording(config))
        run("model", MODEL_TIMEOUT_S, lambda: check_model(config))
        mic_timeout = SETTLE_S + mic_seconds + 2 * FIRST_AUDIO_S + 5.0
        for agent_id, spec, channel in roasters:
            kind = "microphone" if spec.strip().lower().startswith("mic") else "audio source"
            name = f"{kind} ({agent_id})" if many else kind

            def audio_check(spec: str = spec, channel: int | None = channel,
                            name: str = name) -> CheckResult:  # fmt: skip
                return check_source(spec, config.audio, channel, name, mic_seconds)

            run(name, mic_timeout, audio_check)
        broker = run("broker", 2 * BROKER_TIMEOUT_S + 2, lambda: check_broker(config))
        for agent_id, _, _ in roasters:
            name = f"discovery ({agent_id})"
            if broker.status is Status.FAIL:
                emit(skipped(name, "the broker check failed"))
                continue
            run(name, 2 * BROKER_TIMEOUT_S + 5,
                lambda agent_id=agent_id: check_discovery(config, agent_id))  # fmt: skip
    code = exit_code(results)
    verdict = "ready for a roast" if code == 0 else "fix the FAIL lines above"
    out.write(f"{tally(results)}: {verdict}\n")
    return code
