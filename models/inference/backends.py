"""Inference backends: one AST classifier behind an onnxruntime or a torch session.

Both backends share the feature front end (models/inference/frontend.py, numpy) and the
read-out (softmax, then the `first_crack` column named by id2label), so the
only thing that differs between them is the graph that turns features into
logits. That is what lets tests compare them number for number.

This module holds the shared part and the ONNX backend, and imports neither
torch nor transformers: the runtime agent with an ONNX model must run without
them. The torch backend lives in models/inference/torch_backend.py.

Loading (references, the hub, error messages) lives in `firstcrack.models.inference.classifier`;
this module only wraps objects that are already loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# Recent onnxruntime builds keep a device id under ~/.cache and send usage telemetry; an agent
# on a home network should not, unless its owner says so (set the variable to 0).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402 - after the telemetry default above

from firstcrack.models.inference.features import FeatureConfig
from firstcrack.models.inference.frontend import MAX_STREAMS, MAX_WINDOW_SECONDS, FeatureFrontEnd
from firstcrack.models.inference.profile import PUBLISHED_PROFILE, DetectionProfile

if TYPE_CHECKING:
    from firstcrack.models.inference.torch_backend import TorchClassifier

__all__ = ["FIRST_CRACK", "MAX_STREAMS", "MAX_WINDOW_SECONDS", "ClassifierBase",
           "FeatureFrontEnd", "LabelError", "OnnxClassifier", "TorchClassifier",
           "first_crack_index", "is_dynamically_quantized", "onnx_session", "softmax_column"]

FIRST_CRACK = "first_crack"
"""The label whose probability every backend reports."""


class LabelError(ValueError):
    """The model's id2label has no `first_crack` entry."""


def first_crack_index(id2label: Mapping[int | str, str]) -> int:
    """Index of the `first_crack` logit, read from id2label.

    Never assume index 1: a model trained with a different label order must
    still report p(first_crack). Keys may be ints or (from JSON) strings.
    """
    for key, name in id2label.items():
        if name == FIRST_CRACK:
            return int(key)
    found = ", ".join(repr(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0])))
    raise LabelError(f"the model has no '{FIRST_CRACK}' label (labels found: {found or 'none'})")


def softmax_column(logits: np.ndarray, index: int) -> np.ndarray:
    """p(label `index`) per row of `logits` [B, n_labels], as float32 [B].

    Computed in float64 with the row maximum subtracted, so large logits
    neither overflow nor lose the small probabilities a threshold sweep needs.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e[:, index] / e.sum(axis=1)).astype(np.float32)


class ClassifierBase:
    """Shared read-out; subclasses provide `_logits(feats)`."""

    backend: str = ""
    architecture: str = "ast"
    """What kind of model scores: an AST here; "ear" for models/inference/ear_head.py. The agent
    puts the ear gate in front of an AST (agent/core/gate.py)."""
    profile: DetectionProfile = PUBLISHED_PROFILE
    """Set by the loader from the model folder (models/inference/profile.py)."""

    def __init__(self, name: str, front: FeatureFrontEnd, id2label: Mapping[int | str, str]):
        self.name = name
        self.front = front
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        self.first_crack_index = first_crack_index(self.id2label)
        self.sample_rate = front.sample_rate
        self.window_samples = front.window_samples

    def features(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        """See `FeatureFrontEnd.features`."""
        return self.front.features(windows, streams)

    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        """[B, frames, mel] features -> [B] p(first_crack) float32."""
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if feats.ndim != 3:
            raise ValueError(f"features must be [batch, frames, mel], got shape {feats.shape}")
        if feats.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        return softmax_column(self._logits(feats), self.first_crack_index)

    def predict(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        """[B, samples] 16 kHz windows -> [B] p(first_crack) float32; `streams` names
        each window's audio stream (see `FeatureFrontEnd.features`)."""
        return self.predict_features(self.features(windows, streams))

    def _logits(self, feats: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, window_samples={self.window_samples})"


MMAP_THRESHOLD_BYTES = 128 * 1024
"""Allocations at least this large get their own mmap (and go back to the OS when freed)."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_malloc_steady: bool | None = None


def steady_malloc() -> bool:
    """Pin glibc's mmap threshold at 128 KiB, process-wide, once; True when it took.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB),
    after which large blocks come from the heap and freed ones stay resident. Building
    an onnxruntime session allocates and frees many large initialiser buffers, so
    whether that happens depends on thread timing, and the resident memory of one load
    varies from run to run; pinned, it does not (docs/PERFORMANCE.md, "Memory"). No
    effect (False) off Linux or without glibc's `mallopt`.
    """
    global _malloc_steady
    if _malloc_steady is None:
        _malloc_steady = False
        if sys.platform.startswith("linux"):
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            _malloc_steady = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return _malloc_steady


def onnx_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session tuned for one model on a small machine.

    Full graph optimisation fuses attention and layer-norm kernels; sequential
    execution with `threads` intra-op threads (default: all cores) is the
    fastest layout for a single-stream transformer on CPU. glibc's malloc is
    made predictable first (`steady_malloc`).
    """
    steady_malloc()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
    opts.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


DYNAMIC_QUANT_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul"})


def is_dynamically_quantized(path: str | Path, chunk: int = 1 << 22) -> bool:
    """Whether the graph quantises activations at run time (scales computed per tensor).

    Found by looking for the op names in the file's bytes, 4 MiB at a time: a node's
    op_type is stored as a plain protobuf string. Parsing the graph with `onnx.load`
    would hold a second copy of the model in memory (about 90 MB for the full-size int8
    AST, all of it peak RSS) and needs the `onnx` package, which the runtime install
    does not have. A name that merely contains the word (never seen in exports) would
    only make the model run one window at a time, which is always correct.
    """
    tokens = [op.encode() for op in DYNAMIC_QUANT_OPS]
    overlap = max(len(t) for t in tokens) - 1
    with open(path, "rb") as f:
        tail = b""
        while block := f.read(chunk):
            data = tail + block
            if any(t in data for t in tokens):
                return True
            tail = data[-overlap:]
    return False


class OnnxClassifier(ClassifierBase):
    """An exported AST graph (`input_values` [B, frames, mel] -> `logits`) in onnxruntime."""

    backend = "onnx"

    def __init__(
        self,
        name: str,
        session: ort.InferenceSession,
        features: FeatureConfig | FeatureFrontEnd,
        id2label: Mapping[int | str, str],
        onnx_path: Path | None = None,
    ) -> None:
        front = features if isinstance(features, FeatureFrontEnd) else FeatureFrontEnd(features)
        super().__init__(name, front, id2label)
        self.session = session
        self.onnx_path = onnx_path
        """The .onnx file the session was built from (reported by `bench` and logs)."""
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = session.get_outputs()[0].name
        shape = list(inp.shape)
        if len(shape) != 3:
            raise ValueError(
                f"ONNX input '{inp.name}' has shape {shape}, expected [batch, frames, mel]"
            )
        expected = [self.front.max_length, self.front.num_mel_bins]
        for got, want in zip(shape[1:], expected, strict=True):
            if isinstance(got, int) and got != want:
                raise ValueError(
                    f"ONNX input expects [batch, {shape[1]}, {shape[2]}] but "
                    f"preprocessor_config.json gives [batch, {expected[0]}, {expected[1]}]"
                )
        self.run_options = ort.RunOptions()
        # Give the activation arena back after every run. The agent scores a window
        # every 3-15 s, so holding the arena between runs only costs memory; the peak
        # also stays at the first run's instead of creeping up as the arena fragments
        # (the cost, re-faulting the pages: docs/PERFORMANCE.md, "Memory").
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        # Run one window at a time when the export fixes the batch at 1, or when it is
        # dynamically quantised: DynamicQuantizeLinear takes one scale over the whole
        # tensor, batch included, so a window's p would depend on its batch-mates.
        self.per_window = shape[0] == 1 or (
            onnx_path is not None and is_dynamically_quantized(onnx_path)
        )

    def _logits(self, feats: np.ndarray) -> np.ndarray:
        if self.per_window and feats.shape[0] > 1:
            return np.concatenate([self._logits(feats[i : i + 1]) for i in range(len(feats))])
        (logits,) = self.session.run(
            [self.output_name], {self.input_name: feats}, self.run_options
        )
        return np.asarray(logits)

