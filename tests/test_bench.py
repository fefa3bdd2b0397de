"""`firstcrack bench --quick --no-full --json` on a tiny model: runs, and reports ratios."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from firstcrack.models.bench.command import add_arguments as add_bench_arguments
from firstcrack.models.bench.command import main as run_bench


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    return parser.parse_args(list(argv))


def test_quick_bench_prints_json_with_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("--quick", "--no-full", "--model", "tiny", "--json", "--cache", str(tmp_path))
    assert run_bench(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["repeats"] == 2
    variants = report["models"]["tiny"]["variants"]
    assert set(variants) == {"baseline", "torch_fp32", "onnx_fp32", "onnx_int8", "onnx_int8_pc"}
    for v in variants.values():
        assert {"p50_ms", "p95_ms", "cpu_ms", "speedup_vs_baseline", "rtf_at_hop"} <= set(v)
        assert v["p95_ms"] >= v["p50_ms"] > 0
        assert v["max_abs_dp_vs_torch_fp32"] <= 0.02
    assert variants["baseline"]["speedup_vs_baseline"] == 1.0
    footprint = report["models"]["tiny"]["footprint"]
    assert set(footprint) == {"torch", "onnx_fp32", "onnx_int8"}
    for backend, f in footprint.items():  # each measured in its own fresh process
        assert f["load_s"] > 0 and f["peak_rss_mb"] > 0, backend
        assert f["imports_torch"] == (backend == "torch"), backend
        assert f["imports_transformers"] == (backend == "torch"), backend
    assert footprint["onnx_int8"]["peak_rss_mb"] < footprint["torch"]["peak_rss_mb"]
    feats = report["models"]["tiny"]["features"]
    assert feats["incremental_3s_hop"]["frames_reused_fraction"] > 0.6
    roasts = report["roasts"]
    assert set(roasts["profiles"]) == {"baseline", "agent", "gated"}
    profiles = roasts["profiles"]
    # A random-weight AST can keep the adaptive cadence dense throughout; the ear cannot.
    assert profiles["agent"]["inferences"] <= profiles["baseline"]["inferences"]
    assert profiles["gated"]["inferences"] < profiles["baseline"]["inferences"]
    assert profiles["gated"]["ear_windows_per_roast"] > 0  # the ear ran in front of the AST
    assert profiles["baseline"]["ear_windows_per_roast"] == 0
    cpu = roasts["cpu_s_per_roast_minute"]["tiny"]
    assert cpu["ratio_vs_baseline"] > 1.0 and cpu["ratio_gated_vs_baseline"] > 1.0
    ear = report["ear"]  # the shipped ear as the model
    assert 4 <= ear["windows_per_roast_minute"] <= 61  # 1 s hop, 15 s when idle (adaptive)
    assert 0 < ear["cpu_s_per_roast_minute"] < 60
    rec = report["recording"]["cpu_s_per_roast_minute"]  # with and without the recorder
    assert rec["chain"] > 0 and rec["chain_recording"] > 0 and 0 < rec["recorder"] < rec["chain"]
    assert report["recording"]["flac_mb_per_roast_minute"] > 0
    assert report["peak_rss_mb"] > 0


def test_missing_model_is_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("--quick", "--no-full", "--roasts", "0", "--model", str(tmp_path / "nope"),
                 "--json", "--cache", str(tmp_path))
    assert run_bench(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"] == {}
    assert "not found" in report["notes"][0]


def test_bad_option_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(parse("--repeats", "0")) == 2
    assert "--repeats" in capsys.readouterr().err
