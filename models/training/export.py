"""Export a `save_pretrained` AST classifier to ONNX (fp32 and dynamic int8).

Layout written (the published checkpoint's, so `load_classifier` treats both alike):

    OUT_DIR/fp32/model.onnx            + preprocessor_config.json + config.json
    OUT_DIR/int8/model_quantized.onnx  + preprocessor_config.json + config.json

The graph takes `input_values` [batch, frames, mel] (the feature extractor's
output, dynamic batch) and returns `logits` [batch, n_labels]; feature
extraction stays in numpy so both backends share it. id2label is also stored in
the ONNX metadata, so a lone .onnx file still knows which logit is first_crack.

Each export is checked against torch on real windows, and the largest
difference in p(first_crack) is reported: a quantised model that disagrees with
its source should be noticed at export time, not in a roast.

torch and onnx are imported inside the functions that use them, after
`require("train")`: the CLI imports this module for `ExportError` on every
failing command, and the runtime install has neither.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE, UserError
from firstcrack.models.extras import require
from firstcrack.models.inference.backends import OnnxClassifier, onnx_session
from firstcrack.models.inference.classifier import ModelLoadError, load_classifier

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

FP32_FILE = Path("fp32/model.onnx")
INT8_FILE = Path("int8/model_quantized.onnx")
SIDECAR_FILES = ("preprocessor_config.json", "config.json")


class ExportError(UserError):
    """The model could not be exported or its export does not run."""


@dataclass
class ExportReport:
    """What `export_onnx` wrote and how closely each file agrees with torch."""

    fp32_path: Path
    int8_path: Path
    max_abs_diff_fp32: float
    """Largest |p_onnx - p_torch| of p(first_crack) over the verification windows."""
    max_abs_diff_int8: float
    """Same for the int8 model; dynamic quantisation usually stays within a few 1e-2."""
    n_windows: int
    """How many windows the differences were measured on."""


def _logits_only(model: torch.nn.Module) -> torch.nn.Module:
    """The HF model wrapped so the traced graph has one tensor in and one out."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            return self.model(input_values=input_values).logits

    return LogitsOnly(model)


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    verify_windows: np.ndarray | None = None,
    opset: int = 17,
) -> ExportReport:
    """Export `model_dir` to fp32 and int8 ONNX under `out_dir` and verify both.

    `verify_windows` are [B, samples] 16 kHz float32 windows; None uses a few
    seconds-long bursts of shaped noise at several levels, which exercise the
    whole feature range (silence would give every model the same input).
    Raises `ModelLoadError` when `model_dir` does not load, `ExportError` when
    neither exporter can produce a graph.
    """
    require("train", "ONNX export")
    import torch

    from firstcrack.models.inference.torch_backend import TorchClassifier

    src = Path(model_dir)
    out = Path(out_dir)
    reference = load_classifier(str(src), backend="torch")
    assert isinstance(reference, TorchClassifier)
    fp32 = out / FP32_FILE
    int8 = out / INT8_FILE
    for target in (fp32, int8):
        target.parent.mkdir(parents=True, exist_ok=True)
        for name in SIDECAR_FILES:
            shutil.copyfile(src / name, target.parent / name)

    example = torch.from_numpy(reference.features(np.zeros((2, 1600), dtype=np.float32)))
    _export_graph(reference.model, example, fp32, opset)
    add_metadata(fp32, reference.id2label)
    _quantize(fp32, int8)
    add_metadata(int8, reference.id2label)

    windows = demo_windows(reference.window_samples) if verify_windows is None else verify_windows
    feats = reference.features(windows)
    p_torch = reference.predict_features(feats)
    diffs = []
    for path in (fp32, int8):
        onnx_model = load_classifier(str(path), backend="onnx")
        assert isinstance(onnx_model, OnnxClassifier)
        diffs.append(float(np.max(np.abs(onnx_model.predict_features(feats) - p_torch))))
    report = ExportReport(fp32, int8, diffs[0], diffs[1], len(feats))
    log.info("exported %s: %s", src, report)
    return report


def demo_windows(window_samples: int, n: int = 4, seed: int = 0) -> np.ndarray:
    """`n` windows of noise bursts at different levels and densities, [n, samples] float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(window_samples)
    out = np.zeros((n, window_samples), dtype=np.float32)
    for i in range(n):
        level = 0.01 * 4**i
        out[i] = level * 0.1 * rng.standard_normal(window_samples)
        for start in rng.integers(0, window_samples - 400, size=5 * (i + 1)):
            burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 80.0)
            out[i, start : start + 400] += level * burst
        out[i] += level * 0.2 * np.sin(2 * np.pi * 180.0 * t / SAMPLE_RATE)
    return out


def _export_graph(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """Legacy TorchScript exporter first (robust for AST), dynamo exporter as a fallback."""
    import onnx
    import torch

    wrapped = _logits_only(model).eval()
    common: dict[str, Any] = dict(
        input_names=["input_values"],
        output_names=["logits"],
        opset_version=opset,
    )
    errors = []
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (example,),
                str(path),
                dynamic_axes={"input_values": {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,
                **common,
            )
        onnx.checker.check_model(str(path))
        return
    except Exception as exc:  # noqa: BLE001 - try the other exporter before giving up
        errors.append(f"legacy exporter: {exc}")
        log.warning("legacy ONNX export failed (%s); trying the dynamo exporter", exc)
    try:
        batch = torch.export.Dim("batch", min=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapped,
                (example,),
                dynamic_shapes={"input_values": {0: batch}},
                dynamo=True,
                external_data=False,
                **common,
            )
            program.save(str(path))
        onnx.checker.check_model(str(path))
    except Exception as exc:  # noqa: BLE001 - report both failures together
        errors.append(f"dynamo exporter: {exc}")
        raise ExportError("ONNX export failed: " + "; ".join(errors)) from exc


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of the weights (activations stay float at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            # Shape inference + graph cleanup lets the quantiser find every MatMul.
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            source = pre
        except Exception as exc:  # noqa: BLE001 - preprocessing is an optimisation only
            log.warning("quantisation pre-processing failed (%s); quantising as exported", exc)
            source = fp32
        # Per-channel weight scales: as fast as per-tensor here, and 4-8x closer to fp32
        # (docs/PERFORMANCE.md).
        quantize_dynamic(str(source), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    onnx_session(int8)  # fail here, not at load time, if the result does not run


def add_metadata(path: Path, id2label: dict[int, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    entries = {p.key: p for p in model.metadata_props}
    entry = entries.get("id2label") or model.metadata_props.add()
    entry.key = "id2label"
    entry.value = json.dumps({str(k): v for k, v in sorted(id2label.items())})
    onnx.save(model, str(path))


__all__ = ["ExportError", "ExportReport", "ModelLoadError", "demo_windows", "export_onnx"]
