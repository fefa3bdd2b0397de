"""ONNX export (models.training.export): layout, graph interface, labels and measured agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from firstcrack.models.inference.classifier import ModelLoadError, load_classifier
from firstcrack.models.training.export import ExportReport, demo_windows, export_onnx

INT8_BOUND = 0.05
"""Max |p_int8 - p_torch| accepted; measured about 0.012 on the tiny test model."""


@pytest.fixture(scope="module")
def exported(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    return export_onnx(tiny_model_dir, tmp_path_factory.mktemp("export"))


def test_layout_matches_the_published_checkpoint(exported: ExportReport) -> None:
    assert exported.fp32_path.name == "model.onnx" and exported.fp32_path.parent.name == "fp32"
    assert exported.int8_path.name == "model_quantized.onnx"
    assert exported.int8_path.parent.name == "int8"
    for path in (exported.fp32_path, exported.int8_path):
        assert path.is_file()
        for sidecar in ("preprocessor_config.json", "config.json"):
            assert (path.parent / sidecar).is_file()
    assert exported.int8_path.stat().st_size < exported.fp32_path.stat().st_size


@pytest.mark.parametrize("which", ["fp32_path", "int8_path"])
def test_graph_interface_and_label_metadata(exported: ExportReport, which: str) -> None:
    """input_values [batch, 1000, 64] with a named dynamic batch, logits out, id2label stored."""
    model = onnx.load(str(getattr(exported, which)))
    onnx.checker.check_model(model)
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "input_values"
    assert dims[0].dim_param and not dims[0].dim_value
    assert [d.dim_value for d in dims[1:]] == [1000, 64]
    assert [o.name for o in model.graph.output] == ["logits"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["id2label"]) == {"0": "no_first_crack", "1": "first_crack"}


def test_report_measures_agreement_with_torch(exported: ExportReport) -> None:
    assert exported.n_windows == 4
    assert 0 <= exported.max_abs_diff_fp32 < 1e-4
    assert 0 <= exported.max_abs_diff_int8 < INT8_BOUND


def test_report_uses_the_given_windows(
    tiny_model_dir: Path, exported: ExportReport, tmp_path: Path
) -> None:
    """Diffs in the report are what an independent comparison on the same windows finds."""
    windows = demo_windows(160_000, n=3, seed=7)
    report = export_onnx(tiny_model_dir, tmp_path / "again", verify_windows=windows)
    assert report.n_windows == 3
    p_torch = load_classifier(str(tiny_model_dir), backend="torch").predict(windows)
    p_int8 = load_classifier(str(report.int8_path)).predict(windows)
    assert report.max_abs_diff_int8 == pytest.approx(np.max(np.abs(p_int8 - p_torch)), abs=1e-6)


def test_dynamic_batch_runs_any_batch_size(exported: ExportReport) -> None:
    model = load_classifier(str(exported.fp32_path))
    feats = np.zeros((5, 1000, 64), dtype=np.float32)
    assert model.predict_features(feats).shape == (5,)


def test_missing_model_dir_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        export_onnx(tmp_path / "nothing", tmp_path / "out")
    assert not (tmp_path / "out").exists()
