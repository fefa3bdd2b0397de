"""`firstcrack doctor` against real parts: PulseAudio's null sink as the microphone, real
mosquitto brokers (one with a password file), the tiny AST model, real files on disk.

Each check is a small function with a result (agent/setup/); most cases call
one directly, and the full command runs for a good setup, a wrong password and
an invalid config, where the exit code and the lines together are the contract.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from firstcrack.agent.cli import main
from firstcrack.agent.config import AgentConfig, AudioConfig
from firstcrack.agent.mqtt.discovery import discovery_messages
from firstcrack.agent.mqtt.topics import Topics
from firstcrack.agent.setup.checks import Status, bounded, passed
from firstcrack.agent.setup.doctor import (
    check_model,
    check_recording,
    check_source,
    check_state_dir,
)
from firstcrack.agent.setup.doctor_mqtt import check_broker, check_discovery
from tests.mqtt_fixtures import (  # noqa: F401 - fixtures
    Mosquitto,
    free_port,
    mosquitto,
    sink_factory,
    subscriber_factory,
)
from tests.pulse_fixtures import PulseServer, running_pulse_server

USER, PASSWORD = "roaster", "s3cret-beans"


@pytest.fixture
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    yield from running_pulse_server(tmp_path_factory)


@pytest.fixture
def password_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """mosquitto with allow_anonymous false and one user in a password file."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd not installed (Debian package mosquitto)")
    workdir = tmp_path / "pwbroker"
    workdir.mkdir()
    passwords = workdir / "passwords"
    subprocess.run([tool, "-c", "-b", str(passwords), USER, PASSWORD], check=True, timeout=30)
    broker = Mosquitto(workdir, anonymous=False)
    with broker.conf.open("a") as conf:
        conf.write(f"password_file {passwords}\n")
    broker.start()
    yield broker
    broker.stop()


def agent_config(port: int, tmp_path: Path, **mqtt: Any) -> AgentConfig:
    return AgentConfig(
        state_dir=tmp_path / "state",
        mqtt={"host": "127.0.0.1", "port": port, **mqtt},
    )


def write_config(path: Path, **values: Any) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def write_tone(path: Path, seconds: float) -> Path:
    t = np.arange(round(48000 * seconds)) / 48000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 800.0 * t)).astype(np.float32), 48000)
    return path


def lines(out: str) -> dict[str, str]:
    """`check name -> status` from doctor's output."""
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition("  ")
        if status in {s.value for s in Status}:
            found[rest.split(":", 1)[0]] = status
    return found


# --- the whole command ---------------------------------------------------------------------


@pytest.mark.integration
def test_a_good_setup_passes_every_check(
    pulse_server: PulseServer,
    mosquitto: Mosquitto,  # noqa: F811
    sink_factory: Callable[..., Any],  # noqa: F811
    subscriber_factory: Callable[..., Any],  # noqa: F811
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An agent has run once (discovery retained), a tone plays into the microphone: exit 0."""
    topics = Topics("roaster1")
    expected = len(discovery_messages(topics))
    watcher = subscriber_factory(mosquitto.port, [topics.discovery("+", "+")])
    sink_factory(mosquitto.port, state_dir=tmp_path / "agent-state")
    watcher.wait_for_count(lambda m: m.retain or m.topic.endswith("/config"), expected)
    config = write_config(
        tmp_path / "agent.yaml",
        model=str(tiny_model_dir),
        threads=1,
        state_dir=str(tmp_path / "state"),
        audio={"device": "pulse"},
        mqtt={"host": "127.0.0.1", "port": mosquitto.port},
    )
    player = pulse_server.play(write_tone(tmp_path / "tone.wav", seconds=60))
    try:
        time.sleep(0.5)
        code = main(["doctor", "--config", str(config)])
    finally:
        player.kill()
        player.wait(timeout=10)
    out = capsys.readouterr().out
    assert lines(out) == {
        "config": "PASS",
        "state dir": "PASS",
        "recording": "SKIP",
        "model": "PASS",
        "microphone": "PASS",
        "broker": "PASS",
        "discovery (roaster1)": "PASS",
    }, out
    assert code == 0, out
    assert f"{expected} entity configs retained" in out
    assert "[" in out and "] pulse at" in out and "loaded in" in out
    assert out.rstrip().endswith("6 passed, 1 skipped: ready for a roast")


@pytest.mark.integration
def test_a_wrong_password_fails_naming_bad_credentials(
    password_mosquitto: Mosquitto,
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRSTCRACK_MQTT__PASSWORD", "not-the-password-7f3")
    config = write_config(
        tmp_path / "agent.yaml",
        model=str(tiny_model_dir),
        threads=1,
        state_dir=str(tmp_path / "state"),
        mqtt={"host": "127.0.0.1", "port": password_mosquitto.port, "username": USER},
    )
    code = main(["doctor", "--config", str(config), "--source", "sim:3"])
    out = capsys.readouterr().out
    assert code == 1, out
    status = lines(out)
    assert status["broker"] == "FAIL" and status["discovery (roaster1)"] == "SKIP", out
    assert "bad credentials" in out and ("Not authorized" in out or "Bad user name" in out)
    assert "fix: check mqtt.username and the password (FIRSTCRACK_MQTT__PASSWORD)" in out
    assert "not-the-password" not in out


def test_an_invalid_config_fails_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 like every failed check (agent/setup/doctor.py); everything else is skipped."""
    config = write_config(tmp_path / "bad.yaml", detector={"treshold": 0.5})
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    first, fix, *rest = out.splitlines()
    assert first.startswith("FAIL  config: invalid configuration: detector.treshold: unknown key")
    assert fix.strip().startswith(f"fix: correct detector.treshold in {config}")
    assert [line.split()[0] for line in rest[:-1]] == ["SKIP"] * 6
    assert rest[-1] == "1 failed, 6 skipped: fix the FAIL lines above"


def test_each_roaster_is_checked_on_its_own(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`roasters:`: a state dir, an audio source and a discovery line per roaster."""
    config = write_config(
        tmp_path / "agent.yaml",
        model=str(tiny_model_dir),
        threads=1,
        state_dir=str(tmp_path / "state"),
        mqtt={"enabled": False},
        roasters=[
            {"agent_id": "left", "source": "sim:1"},
            {"agent_id": "right", "source": f"file:{tmp_path / 'missing.wav'}"},
        ],
    )
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert lines(out) == {
        "config": "PASS",
        "state dir (left)": "PASS",
        "state dir (right)": "PASS",
        "recording": "SKIP",
        "model": "PASS",
        "audio source (left)": "PASS",
        "audio source (right)": "FAIL",
        "broker": "SKIP",
        "discovery (left)": "SKIP",
        "discovery (right)": "SKIP",
    }, out
    assert main(["doctor", "--config", str(config), "--source", "sim"]) == 2
    assert "--source cannot be used with `roasters:`" in capsys.readouterr().err


# --- one check at a time -------------------------------------------------------------------


@pytest.mark.integration
def test_the_right_password_passes_and_none_is_refused(
    password_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = password_mosquitto.port
    good = check_broker(agent_config(port, tmp_path, username=USER, password=PASSWORD))
    assert good.status is Status.PASS and f"user {USER!r}" in good.detail
    anonymous = check_broker(agent_config(port, tmp_path))
    assert anonymous.status is Status.FAIL and "bad credentials" in anonymous.detail


def test_an_unreachable_broker_fails_with_the_fix(tmp_path: Path) -> None:
    result = check_broker(agent_config(free_port(), tmp_path))
    assert result.status is Status.FAIL
    assert result.detail.startswith("unreachable:") and "refused the connection" in result.detail
    assert "start the broker" in result.fix and "mqtt.host" in result.fix


@pytest.mark.integration
def test_tls_against_a_plain_listener_is_a_tls_failure(
    mosquitto: Mosquitto,  # noqa: F811
    tmp_path: Path,
) -> None:
    result = check_broker(agent_config(mosquitto.port, tmp_path, tls={"enabled": True}))
    assert result.status is Status.FAIL and "TLS" in result.detail, result
    assert "mqtt.tls" in result.fix


def test_mqtt_disabled_skips_the_broker_checks(tmp_path: Path) -> None:
    config = AgentConfig(mqtt={"enabled": False})
    assert check_broker(config).status is Status.SKIP
    assert check_discovery(config, "roaster1").status is Status.SKIP


@pytest.mark.integration
def test_no_discovery_yet_is_a_warning_with_the_fix(
    mosquitto: Mosquitto,  # noqa: F811
    tmp_path: Path,
) -> None:
    result = check_discovery(agent_config(mosquitto.port, tmp_path), "roaster1")
    assert result.status is Status.WARN
    assert "homeassistant/+/roaster1/+/config" in result.detail
    assert result.fix.startswith("start `firstcrack run` once; discovery is published on connect")


@pytest.mark.integration
def test_a_missing_microphone_fails_naming_it_and_listing_the_inputs(
    pulse_server: PulseServer,
) -> None:
    result = check_source("mic:no-such-mic", AudioConfig())
    assert result.status is Status.FAIL
    assert "'no-such-mic'" in result.detail and "pulse" in result.detail
    assert "firstcrack devices" in result.fix


@pytest.mark.integration
def test_a_silent_microphone_fails(pulse_server: PulseServer) -> None:
    """The idle null sink's monitor is exact zeros, as a muted input is."""
    result = check_source("mic", AudioConfig(device="pulse"), seconds=1.0)
    assert result.status is Status.FAIL and "digital silence" in result.detail


def test_file_sources_are_checked_for_readability(tmp_path: Path) -> None:
    wav = tmp_path / "r.wav"
    sf.write(wav, np.zeros(16000 * 3, np.float32), 16000)
    good = check_source(f"file:{wav}", AudioConfig(), name="audio source")
    assert good.status is Status.PASS and "(3.0 s)" in good.detail
    missing = check_source(f"file:{tmp_path / 'nope.wav'}", AudioConfig())
    assert missing.status is Status.FAIL and "not found" in missing.detail
    assert check_source("sim:4", AudioConfig()).status is Status.PASS


def test_state_dir_must_be_writable(tmp_path: Path) -> None:
    ok = check_state_dir(AgentConfig(state_dir=tmp_path / "s"), "roaster1")
    assert ok.status is Status.PASS and ok.detail.endswith("(created)")
    assert not list((tmp_path / "s" / "roaster1").iterdir())  # the probe file is gone
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bad = check_state_dir(AgentConfig(state_dir=blocker), "roaster1")
    assert bad.status is Status.FAIL and "state_dir" in bad.fix


def test_recording_folder_is_checked_when_recording_is_on(tmp_path: Path) -> None:
    off = check_recording(AgentConfig(state_dir=tmp_path / "s"))
    assert off.status is Status.SKIP and not (tmp_path / "s").exists()
    on = AgentConfig(state_dir=tmp_path / "s", recording={"enabled": True})
    ok = check_recording(on)
    assert ok.status is Status.PASS and "GB free" in ok.detail
    assert not list((tmp_path / "s" / "recordings").iterdir())  # the probe file is gone
    greedy = AgentConfig(state_dir=tmp_path / "s", recording={"enabled": True,
                                                              "min_free_gb": 99_999})
    assert check_recording(greedy).status is Status.WARN
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bad = AgentConfig(state_dir=tmp_path, recording={"enabled": True, "dir": blocker})
    assert check_recording(bad).status is Status.FAIL


def test_a_model_that_cannot_load_fails_with_the_fix(tmp_path: Path) -> None:
    result = check_model(AgentConfig(model=str(tmp_path / "no-model")))
    assert result.status is Status.FAIL and "no such file" in result.detail
    assert "model: demo" in result.fix


def test_a_check_that_hangs_is_cut_off() -> None:
    def slow() -> Any:
        time.sleep(5)
        return passed("slow", "never")

    start = time.monotonic()
    result = bounded("slow", 0.3, slow)
    assert time.monotonic() - start < 2
    assert result.status is Status.FAIL and result.detail == "did not finish within 0 s"
