"""The Home Assistant add-on in ha-addon/: its config against the add-on rules, and its run
script's mapping of the Supervisor's MQTT service and the options onto the agent's env,
with a stand-in for bashio. (The image itself cannot be built here: no registry.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from firstcrack.agent.config import load_config

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "ha-addon" / "firstcrack"
ARCHES = {"aarch64", "amd64", "armhf", "armv7", "i386"}

BASHIO = """
bashio::services.available() { [ -n "${STUB_MQTT:-}" ]; }
bashio::services() { python3 "$STUB" service "$2"; }
bashio::config() { python3 "$STUB" option "$1"; }
bashio::config.has_value() { python3 "$STUB" has "$1"; }
bashio::log.info() { echo "INFO: $*" >&2; }
bashio::exit.nok() { echo "FATAL: $*" >&2; exit 1; }
"""
"""The bashio functions run.sh uses, answering from STUB_MQTT and STUB_OPTIONS (JSON)."""
STUB = """
import json, os, sys
what, key = sys.argv[1:]
if what == "service":
    print(json.loads(os.environ["STUB_MQTT"])[key])
else:
    value = json.loads(os.environ["STUB_OPTIONS"]).get(key)
    if what == "has":
        sys.exit(value is None)
    print(str(value).lower() if isinstance(value, bool) else value)
"""
FAKE_AGENT = """#!/usr/bin/env python3
import json, os, sys
print(json.dumps({"argv": sys.argv[1:],
                  "env": {k: v for k, v in os.environ.items() if k.startswith("FIRSTCRACK_")}}))
"""


def _config() -> dict[str, Any]:
    return yaml.safe_load((ADDON / "config.yaml").read_text())


def test_the_add_on_config_follows_the_add_on_rules() -> None:
    config = _config()
    for key in ("name", "version", "slug", "description", "arch"):
        assert config.get(key), key
    assert re.fullmatch(r"[a-z0-9_]+", config["slug"])
    assert set(config["arch"]) == {"aarch64", "amd64"} and set(config["arch"]) <= ARCHES
    assert config["audio"] is True
    assert config["services"] == ["mqtt:need"]
    assert config["ingress"] is True
    assert config["ingress_port"] == load_config(environ={}).dashboard.port
    assert set(config["options"]) == set(config["schema"]) == {
        "model", "roaster_id", "threshold", "gate", "recording"}
    assert yaml.safe_load((ROOT / "ha-addon" / "repository.yaml").read_text())["name"]


def test_the_add_on_version_is_the_packages() -> None:
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _config()["version"] == package
    assert f"firstcrack-agent=={package}" in (ADDON / "build.yaml").read_text()


def test_the_dockerfile_names_its_base_and_installs_only_the_runtime() -> None:
    docker = (ADDON / "Dockerfile").read_text()
    assert re.search(r"^FROM ghcr\.io/home-assistant/\S+$", docker, re.M)
    assert "BUILD_FROM" not in docker.replace("passes\n# BUILD_FROM", "")
    assert "torch" not in docker.split("ARG", 1)[1]  # no extras: the ONNX runtime agent


def _run_script(tmp_path: Path, options: dict[str, Any],
                mqtt: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "bashio.sh").write_text(BASHIO)
    (tmp_path / "stub.py").write_text(STUB)
    agent = tmp_path / "bin" / "firstcrack"
    agent.parent.mkdir(exist_ok=True)
    agent.write_text(FAKE_AGENT)
    agent.chmod(0o755)
    env = {"PATH": f"{agent.parent}:{os.environ['PATH']}", "STUB_OPTIONS": json.dumps(options),
           "STUB": str(tmp_path / "stub.py")}
    if mqtt is not None:
        env["STUB_MQTT"] = json.dumps(mqtt)
    script = f"source {tmp_path / 'bashio.sh'}; source {ADDON / 'run.sh'}"
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)


MQTT = {"host": "core-mosquitto", "port": 1883, "username": "addons", "password": "s3cret"}


def test_the_run_script_maps_the_broker_and_the_options(tmp_path: Path) -> None:
    options = _config()["options"] | {"threshold": 0.7, "recording": True, "gate": "off"}
    done = _run_script(tmp_path, options, MQTT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["argv"] == ["run", "--source", "mic"]
    env = out["env"]
    assert env["FIRSTCRACK_MQTT__HOST"] == "core-mosquitto"
    assert env["FIRSTCRACK_MQTT__PORT"] == "1883"
    assert env["FIRSTCRACK_MQTT__USERNAME"] == "addons"
    assert env["FIRSTCRACK_MQTT__PASSWORD"] == "s3cret"
    assert env["FIRSTCRACK_MODEL"] == options["model"]
    assert env["FIRSTCRACK_AGENT_ID"] == "roaster1"
    assert env["FIRSTCRACK_DETECTOR__THRESHOLD"] == "0.7"
    assert env["FIRSTCRACK_DETECTOR__GATE"] == "off"
    assert env["FIRSTCRACK_RECORDING__ENABLED"] == "true"
    assert env["FIRSTCRACK_DASHBOARD__PORT"] == str(_config()["ingress_port"])
    assert len(env["FIRSTCRACK_DASHBOARD__TOKEN"]) >= 16
    config = load_config(environ=env)  # the agent accepts every value it is given
    assert config.mqtt.host == "core-mosquitto" and config.detector.threshold == 0.7
    assert config.dashboard.ingress_from == "172.30.32.2" and not config.dashboard.loopback


def test_without_a_threshold_the_model_profile_decides(tmp_path: Path) -> None:
    done = _run_script(tmp_path, _config()["options"], MQTT)
    assert done.returncode == 0, done.stderr
    assert "FIRSTCRACK_DETECTOR__THRESHOLD" not in json.loads(done.stdout)["env"]


def test_without_a_broker_the_add_on_says_what_to_install(tmp_path: Path) -> None:
    done = _run_script(tmp_path, _config()["options"], None)
    assert done.returncode == 1
    assert "Mosquitto broker add-on" in done.stderr


def _entity_ids(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["entity"]] if isinstance(node.get("entity"), str) else []
        return found + [e for value in node.values() for e in _entity_ids(value)]
    if isinstance(node, list):
        return [e for item in node for e in _entity_ids(item)]
    return []


def test_the_readme_lovelace_example_uses_only_entities_discovery_creates() -> None:
    from firstcrack.agent.mqtt.discovery import discovery_messages
    from firstcrack.agent.mqtt.topics import Topics

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- lovelace -->", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    used = _entity_ids(yaml.safe_load(block))
    created = {f"{m.component}.{m.config['object_id']}"
               for m in discovery_messages(Topics("roaster1"))}
    assert len(used) >= 8
    assert set(used) <= created, sorted(set(used) - created)
    for kind in ("sensor.roaster1_probability", "sensor.roaster1_phase",
                 "sensor.roaster1_development_time", "button.roaster1_first_crack_now",
                 "button.roaster1_false_alarm"):
        assert kind in used

