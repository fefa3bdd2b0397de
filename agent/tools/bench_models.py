"""Models and backend variants for `firstcrack bench`, built locally (never downloaded).

The full-size AST is `transformers.ASTConfig()` with random weights (seed 0):
86 M parameters, 1,212 patches per 10 s window, the published checkpoint's
architecture. Random weights cost exactly what trained ones do; only
accuracy figures need a trained model. Its exports (~0.4 GB) are cached under
`cache_dir` so later runs skip the minute of building.

Variants measured per model (name -> what it is):

- `baseline`: torch fp32, eager attention, `ASTFeatureExtractor` features
  recomputed per window: the published agent's setup.
- `torch_fp32`: torch fp32 with SDPA attention (transformers' default).
- `onnx_fp32`: onnxruntime, full graph optimisation.
- `onnx_int8`: dynamic int8, per-tensor weights (what `firstcrack export` writes).
- `onnx_int8_pc`: dynamic int8 with per-channel weights.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("firstcrack.bench")

VARIANTS = ("baseline", "torch_fp32", "onnx_fp32", "onnx_int8", "onnx_int8_pc")


@dataclass
class Variant:
    """One backend variant: `predict_features` [1, frames, mel] -> [1] p, plus its front end."""

    name: str
    classifier: Any
    feature_mode: str  # FeatureFrontEnd.mode used in the whole-window timing


def full_ast_dir(cache_dir: Path) -> Path:
    """Build (once) the random-weight full-size AST and its ONNX exports; return its directory."""
    out = cache_dir / "full-ast"
    if not (out / "onnx" / "int8_pc" / "model.onnx").is_file():
        import torch
        from transformers import ASTConfig, ASTForAudioClassification

        from models.tiny import LABELS, tiny_feature_extractor

        log.info("building the full-size AST (random weights) in %s", out)
        id2label = dict(enumerate(LABELS))
        config = ASTConfig(
            num_labels=2, id2label=id2label, label2id={v: k for k, v in id2label.items()}
        )
        torch.manual_seed(0)
        ASTForAudioClassification(config).eval().save_pretrained(out)
        tiny_feature_extractor(config).save_pretrained(out)
        export_variants(out)
    return out


def export_variants(model_dir: Path) -> None:
    """`firstcrack export` layout under model_dir/onnx, plus a per-channel int8 file."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from models.export import _add_metadata, export_onnx

    onnx_dir = model_dir / "onnx"
    export_onnx(model_dir, onnx_dir)
    pc = onnx_dir / "int8_pc"
    pc.mkdir(parents=True, exist_ok=True)
    for name in ("preprocessor_config.json", "config.json"):
        shutil.copyfile(model_dir / name, pc / name)
    pre = pc / "pre.onnx"
    quant_pre_process(str(onnx_dir / "fp32" / "model.onnx"), str(pre), skip_symbolic_shape=True)
    quantize_dynamic(
        str(pre), str(pc / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True
    )
    pre.unlink()
    import json

    labels = json.loads((model_dir / "config.json").read_text())["id2label"]
    _add_metadata(pc / "model.onnx", {int(k): v for k, v in labels.items()})


def small_model_dir(ref: str, cache_dir: Path) -> Path | None:
    """A `save_pretrained` directory with exports for `ref` (demo, tiny or a path), or None."""
    from models.classifier import resolve_model_ref

    if ref == "tiny":
        from models.tiny import save_tiny_model

        src = save_tiny_model(cache_dir / "tiny-src")
    else:
        src = Path(resolve_model_ref(ref))
        if not (src / "config.json").is_file():
            return None
    import hashlib

    out = cache_dir / f"small-{hashlib.md5(str(src.resolve()).encode()).hexdigest()[:10]}"
    stamp = (src / "config.json").stat().st_mtime
    marker = out / ".source_mtime"
    if not marker.is_file() or marker.read_text() != str(stamp):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(src, out, ignore=shutil.ignore_patterns("onnx", "fp32", "int8*"))
        export_variants(out)
        marker.write_text(str(stamp))
    return out


def load_variants(
    model_dir: Path, threads: int, names: tuple[str, ...] = VARIANTS
) -> list[Variant]:
    """Load each variant of `model_dir` (built by `full_ast_dir` / `small_model_dir`)."""
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    from models.backends import TorchClassifier
    from models.classifier import load_classifier

    out: list[Variant] = []
    for name in names:
        if name in ("baseline", "torch_fp32"):
            attn = "eager" if name == "baseline" else "sdpa"
            model = ASTForAudioClassification.from_pretrained(model_dir, attn_implementation=attn)
            with warnings.catch_warnings():  # AST's known all-zero mel filter warning
                warnings.simplefilter("ignore")
                extractor = ASTFeatureExtractor.from_pretrained(model_dir)
            clf = TorchClassifier(str(model_dir), model, extractor, threads=threads)
            mode = "extractor" if name == "baseline" else "incremental"
        else:
            sub = {
                "onnx_fp32": "fp32/model.onnx",
                "onnx_int8": "int8/model_quantized.onnx",
                "onnx_int8_pc": "int8_pc/model.onnx",
            }[name]
            clf = load_classifier(str(model_dir / "onnx" / sub), backend="onnx", threads=threads)
            mode = "incremental"
        clf.front.mode = mode
        out.append(Variant(name, clf, mode))
    return out


def roast_windows(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`n` 10 s windows from one simulated crack roast (half before, half inside first crack)
    and a run of 10 consecutive windows 3 s apart (for feature timing). Float32 16 kHz."""
    from models.simulator import simulate_roast

    audio, truth = simulate_roast(seed, crack=True)
    onset = truth.first_crack_onset_s or len(audio) / 32000
    ends = np.linspace(20.0, onset - 5.0, max(1, n // 2)).tolist()
    ends += np.linspace(onset + 10.0, onset + 60.0, max(1, n - n // 2)).tolist()
    sr = 16000
    wins = np.stack([audio[int(e * sr) - 10 * sr : int(e * sr)] for e in ends[:n]])
    run = np.stack([audio[(30 + 3 * k) * sr - 10 * sr : (30 + 3 * k) * sr] for k in range(10)])
    return wins.astype(np.float32), run.astype(np.float32)
