"""deploy/firstcrack.service, the systemd unit for a Raspberry Pi (README, "Raspberry Pi").

The unit is parsed and its key choices checked everywhere; `systemd-analyze verify`
runs where systemd's tools are installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firstcrack.agent.cli.entry import parse_args
from firstcrack.agent.config import MqttConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "firstcrack.service"
VENV_EXE = "/opt/firstcrack/venv/bin/firstcrack"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) in order; keys may repeat (Environment=, SystemCallFilter=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"key outside a section: {line}"
        assert not line.endswith("\\"), "no continuation lines, so this parser stays simple"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line}"
        current.append((key.strip(), value.strip()))
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return parse_unit(UNIT.read_text())


def values(unit: dict[str, list[tuple[str, str]]], key: str, section: str = "Service") -> list[str]:
    return [v for k, v in unit[section] if k == key]


def one(unit: dict[str, list[tuple[str, str]]], key: str, section: str = "Service") -> str:
    found = values(unit, key, section)
    assert len(found) == 1, f"{key}= set {len(found)} times"
    return found[0]


def seconds(value: str) -> float:
    """A systemd time span as seconds: `30`, `30s`, `1min 30s`."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, unit_name in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit_name]
    return total


def environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values(unit, "Environment"):
        for assignment in shlex.split(value):
            name, _, setting = assignment.partition("=")
            env[name] = setting
    return env


def test_runs_as_a_dedicated_user_in_the_audio_group(unit) -> None:
    assert one(unit, "User") == "firstcrack"
    assert "audio" in one(unit, "SupplementaryGroups").split()
    assert "DynamicUser" not in dict(unit["Service"])


def test_state_cache_and_config_directories(unit) -> None:
    state = one(unit, "StateDirectory")
    cache = one(unit, "CacheDirectory")
    env = environment(unit)
    assert state == "firstcrack"
    assert env["FIRSTCRACK_STATE_DIR"] == f"/var/lib/{state}"
    assert env["HF_HOME"].startswith(f"/var/cache/{cache}/")
    assert one(unit, "ConfigurationDirectory") == "firstcrack"
    assert one(unit, "EnvironmentFile").startswith("-/etc/firstcrack/")  # optional: a leading -
    assert env["ORT_DISABLE_TELEMETRY"] == "1"  # no uploads, no device id under ~/.cache


def test_state_dir_environment_is_a_config_key() -> None:
    """The unit's FIRSTCRACK_STATE_DIR reaches the agent's `state_dir`."""
    config = load_config(ROOT / "config" / "agent.yaml",
                         environ={"FIRSTCRACK_STATE_DIR": "/var/lib/firstcrack"})
    assert config.state_dir == Path("/var/lib/firstcrack")


def test_exec_start_is_a_valid_run_command(unit) -> None:
    argv = shlex.split(one(unit, "ExecStart"))
    assert argv[0] == VENV_EXE
    args = parse_args(argv[1:])
    assert args.command == "run"
    assert args.config == Path("/etc/firstcrack/agent.yaml")
    assert args.source is None and not args.no_mqtt  # the config's microphone, MQTT on
    assert args.speed == 1.0


def test_restarts_on_failure_and_stops_after_the_outbox_flush(unit) -> None:
    assert one(unit, "Restart") == "on-failure"
    assert seconds(one(unit, "RestartSec")) >= 1
    grace = MqttConfig().flush_grace_s
    assert seconds(one(unit, "TimeoutStopSec")) >= grace + 10
    assert one(unit, "KillSignal") == "SIGTERM"  # what the agent flushes on


def test_hardening_leaves_the_microphone_reachable(unit) -> None:
    service = dict(unit["Service"])
    for key, expected in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "DevicePolicy": "closed",
    }.items():
        assert service.get(key) == expected, key
    assert "char-alsa rw" in values(unit, "DeviceAllow")
    families = set(one(unit, "RestrictAddressFamilies").split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= families
    # A private /dev has no /dev/snd; W^X memory breaks sounddevice's cffi callback.
    assert service.get("PrivateDevices", "no") == "no"
    assert service.get("MemoryDenyWriteExecute", "no") == "no"
    assert service.get("PrivateUsers", "no") == "no"


def test_installs_into_multi_user_after_the_network(unit) -> None:
    assert one(unit, "WantedBy", "Install") == "multi-user.target"
    assert "network-online.target" in one(unit, "After", "Unit").split()
    assert "network-online.target" in one(unit, "Wants", "Unit").split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """Clean verify, no warnings (an unknown key is only a warning, so output must be empty).

    The venv is not installed here, so ExecStart points at a stand-in executable.
    """
    exe = tmp_path / "firstcrack"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    copy = tmp_path / "firstcrack.service"
    copy.write_text(UNIT.read_text().replace(VENV_EXE, str(exe)))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


MDWE_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3+)
    print("unsupported"); sys.exit(0)
import cffi
try:
    cffi.FFI().callback("int(int)", lambda x: x)
except MemoryError:
    print("callback refused"); sys.exit(0)
print("callback allowed")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_why_memory_deny_write_execute_is_off() -> None:
    """Under W^X (the kernel's PR_SET_MDWE, what MemoryDenyWriteExecute= enforces) a cffi
    callback, which sounddevice gives PortAudio for every input stream, cannot be made."""
    pytest.importorskip("cffi")
    done = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "unsupported":
        pytest.skip("this kernel has no PR_SET_MDWE")
    assert done.stdout.strip() == "callback refused"
