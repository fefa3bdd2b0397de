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
- `onnx_int8`: dynamic int8 (what `firstcrack export` writes: per-channel weights).
- `onnx_int8_pc`: dynamic int8 with per-channel weights, quantised here.

`footprint` measures what a fresh process pays to load each backend (load time and
peak RSS), one child process per backend, so that torch's import or one model's
arena never counts against another.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE

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

        from firstcrack.models.training.tiny import LABELS, tiny_feature_extractor

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

    from firstcrack.models.training.export import add_metadata, export_onnx

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
    labels = json.loads((model_dir / "config.json").read_text())["id2label"]
    add_metadata(pc / "model.onnx", {int(k): v for k, v in labels.items()})


def small_model_dir(ref: str, cache_dir: Path) -> Path | None:
    """A `save_pretrained` directory with exports for `ref` (demo, tiny or a path), or None."""
    from firstcrack.models.inference.classifier import resolve_model_ref

    if ref == "tiny":
        from firstcrack.models.training.tiny import save_tiny_model

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

    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.inference.torch_backend import TorchClassifier

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
    from firstcrack.models.sim.simulator import simulate_roast

    audio, truth = simulate_roast(seed, crack=True)
    onset = truth.first_crack_onset_s or len(audio) / (2 * SAMPLE_RATE)
    ends = np.linspace(20.0, onset - 5.0, max(1, n // 2)).tolist()
    ends += np.linspace(onset + 10.0, onset + 60.0, max(1, n - n // 2)).tolist()
    sr = SAMPLE_RATE
    wins = np.stack([audio[int(e * sr) - 10 * sr : int(e * sr)] for e in ends[:n]])
    run = np.stack([audio[(30 + 3 * k) * sr - 10 * sr : (30 + 3 * k) * sr] for k in range(10)])
    return wins.astype(np.float32), run.astype(np.float32)


FOOTPRINT_FILES = {
    "torch": ".",
    "onnx_fp32": "onnx/fp32/model.onnx",
    "onnx_int8": "onnx/int8/model_quantized.onnx",
}
"""Backend -> what `load_classifier` is given, relative to the model directory."""


def footprint(model_dir: Path, threads: int, timeout_s: float = 600.0) -> dict[str, Any]:
    """Load time and peak RSS of each backend of `model_dir`, each in a fresh process.

    The child imports `models.inference.classifier`, loads the model and scores one 10 s window
    (so onnxruntime's arena is counted), then reports `load_s` (import plus
    `load_classifier`, the cost of starting the agent's model), `first_window_ms`,
    `peak_rss_mb` (its own peak, interpreter included: see `peak_rss_mb`) and whether
    torch or transformers were imported.
    """
    out: dict[str, Any] = {}
    for backend, rel in FOOTPRINT_FILES.items():
        cmd = [sys.executable, "-m", "firstcrack.models.bench.variants", "footprint",
               "torch" if backend == "torch" else "onnx", str(model_dir / rel), str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            out[backend] = {"error": tail}
            continue
        out[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    On Linux it is VmHWM from /proc/self/status, not `ru_maxrss`: Python starts a child
    with vfork, and Linux carries the peak of the address space a process exec'd from
    (here the parent's, the whole bench) into the child's ru_maxrss. VmHWM belongs to
    the new address space alone.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _footprint_child(backend: str, ref: str, threads: int) -> dict[str, Any]:
    """One backend's cold load in this (fresh) process; see `footprint`."""
    import time

    t0 = time.perf_counter()
    from firstcrack.models.inference.classifier import load_classifier

    model = load_classifier(ref, backend=backend, threads=threads)
    t1 = time.perf_counter()
    model.predict(np.zeros((1, model.window_samples), dtype=np.float32))
    t2 = time.perf_counter()
    return {
        "load_s": round(t1 - t0, 3),
        "first_window_ms": round(1e3 * (t2 - t1), 1),
        "peak_rss_mb": peak_rss_mb(),
        "imports_torch": "torch" in sys.modules,
        "imports_transformers": "transformers" in sys.modules,
    }


if __name__ == "__main__":  # python -m firstcrack.models.bench.variants footprint BACKEND REF N
    if len(sys.argv) != 5 or sys.argv[1] != "footprint":
        raise SystemExit(
            "usage: python -m firstcrack.models.bench.variants footprint BACKEND REF THREADS")
    print(json.dumps(_footprint_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
