"""The command-line contract (README, "Command line"): outputs, JSON fields and exit codes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from firstcrack.agent.cli import main

CLI = [sys.executable, "-m", "firstcrack.agent.cli"]


@pytest.fixture(scope="module")
def roast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated roast written by `firstcrack simulate`."""
    out = tmp_path_factory.mktemp("cli") / "r.wav"
    assert main(["simulate", str(out), "--seed", "7", "--duration", "90"]) == 0
    return out


def test_simulate_writes_wav_and_truth(roast: Path) -> None:
    truth = json.loads(roast.with_suffix(".json").read_text())
    assert truth["audio_file"] == roast.name
    assert truth["duration"] == pytest.approx(90.0, abs=0.01)
    [crack] = [a for a in truth["annotations"] if a["label"] == "first_crack"]
    assert 0 < crack["start_time"] < crack["end_time"] <= 90.0


def test_analyze_writes_contract_json_and_plot(
    roast: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRSTCRACK_DETECTOR__GATE", "off")  # the AST on its own 3 s grid
    out, png = tmp_path / "o.json", tmp_path / "o.png"
    code = main(
        [
            "analyze",
            str(roast),
            "--model",
            str(tiny_model_dir),
            "--json",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"first_crack", "windows", "model", "hop_s"}
    assert result["hop_s"] == 3.0 and result["model"] == str(tiny_model_dir)
    ends = [w["end_s"] for w in result["windows"]]
    assert ends == [10.0 + 3.0 * i for i in range(len(ends))] and len(ends) == 27
    assert all(0.0 <= w["probability"] <= 1.0 for w in result["windows"])
    fc = result["first_crack"]
    assert fc is None or set(fc) == {"onset_s", "detected_at_s", "probability"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert str(roast) in capsys.readouterr().out


def test_run_streams_one_json_line_per_window_and_exits_at_eof(
    roast: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            *CLI,
            "run",
            "--source",
            f"file:{roast}",
            "--speed",
            "20",
            "--model",
            str(tiny_model_dir),
            "--no-mqtt",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "FIRSTCRACK_STATE_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "FIRSTCRACK_DETECTOR__CADENCE": "fixed",  # one window every hop_s
            "FIRSTCRACK_DETECTOR__GATE": "off",  # (the ear gate would make it adaptive)
        },
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    telemetry = [m for m in lines if m["type"] == "telemetry"]
    dropped = telemetry[-1]["dropped_windows"]
    assert len(telemetry) + dropped == 27
    for field in ("ts", "roast_s", "probability", "threshold", "dbfs", "inference_ms", "phase"):
        assert field in telemetry[0]
    assert any(m["type"] == "state" for m in lines)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["analyze", "/nonexistent/roast.wav", "--model", "demo"], "not found"),
        (["run", "--source", "file:/nonexistent.wav", "--no-mqtt", "--model", "demo"], "not found"),
        (["run", "--source", "tape:1", "--no-mqtt"], "unknown audio source"),
        (["simulate", "x.wav", "--duration", "5"], "duration"),
        (["simulate", "x.mp3"], "x.mp3"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_corrupt_audio_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 20)
    assert main(["analyze", str(bad), "--model", "demo"]) == 2
    assert "bad.wav" in capsys.readouterr().err


def test_bad_config_key_is_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("detector:\n  treshold: 0.5\n")
    assert main(["run", "--config", str(config), "--source", "sim:1", "--no-mqtt"]) == 2
    assert "detector.treshold: unknown key" in capsys.readouterr().err


def test_unloadable_default_model_points_to_demo(
    roast: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline and not cached: exit 2, and the message names `--model demo`."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    assert main(["analyze", str(roast)]) == 2
    assert "--model demo" in capsys.readouterr().err


def test_every_command_has_useful_help() -> None:
    for command in ("run", "demo", "analyze", "simulate", "train", "evaluate", "export", "bench"):
        proc = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (command, proc.stderr)
        assert "usage: firstcrack" in proc.stdout and len(proc.stdout) > 200


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("detector:\n  idle_hop_s: 500\n", ["detector.idle_hop_s"]),
        ("detector:\n  dense_hop_s: 30\n  idle_hop_s: 10\n",
         ["detector.dense_hop_s", "idle_hop_s (10 s)"]),
        ("detector:\n  confirm_s: 0.5\n", ["detector.confirm_s"]),  # as /set refuses it
        ("detector:\n  cadence_rise_fraction: 0\n", ["detector.cadence_rise_fraction"]),
    ],
)
def test_out_of_range_config_is_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, needles: list[str]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(yaml_text)
    assert main(["run", "--config", str(config), "--source", "sim:1", "--no-mqtt"]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and "Traceback" not in err
    for needle in needles:
        assert needle in err


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (["--hop", "0.1"], ["--hop", "detector.hop_s"]),
        (["--threshold", "nan"], ["--threshold", "detector.threshold"]),
        (["--confirm-s", "0.5"], ["--confirm-s", "detector.confirm_s"]),
        (["--window", "100"], ["--window", "detector.window_s"]),
        (["--threads", "0"], ["--threads", "threads"]),
    ],
)
def test_evaluate_with_a_bad_override_is_exit_2_naming_flag_and_key(
    capsys: pytest.CaptureFixture[str], flags: list[str], needles: list[str]
) -> None:
    argv = ["evaluate", "--model", "demo", "--simulate", "1,0", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_evaluate_flag_choices_come_from_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--model", "demo", "--simulate", "1,0", "--rule", "majority"])
    assert info.value.code == 2
    assert "'evidence', 'k_of_n'" in capsys.readouterr().err


def test_run_threads_zero_is_rejected_not_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--threads", "0", "--source", "sim:1", "--no-mqtt"]) == 2
    assert "threads" in capsys.readouterr().err


def test_run_debug_logs_the_effective_config_without_secrets(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --debug` logs the whole config in force (agent.config.redacted) before starting."""
    from firstcrack.agent.sources import SourceError

    monkeypatch.setenv("FIRSTCRACK_MQTT__PASSWORD", "hunter2")
    monkeypatch.setenv("FIRSTCRACK_DETECTOR__IDLE_HOP_S", "90")
    with caplog.at_level(logging.DEBUG, logger="firstcrack.cli"), pytest.raises(SourceError):
        main(["--debug", "run", "--source", "tape:1", "--no-mqtt"])  # --debug re-raises
    [line] = [r.getMessage() for r in caplog.records if "effective configuration" in r.message]
    logged = json.loads(line.split(": ", 1)[1])
    assert logged["detector"]["idle_hop_s"] == 90.0
    assert logged["mqtt"]["password"] == "***"
    assert "hunter2" not in caplog.text
