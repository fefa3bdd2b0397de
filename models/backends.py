"""Inference backends: one AST classifier behind a torch or an onnxruntime session.

Both backends share the feature front end (`ASTFeatureExtractor`, numpy) and
the read-out (softmax, then the `first_crack` column named by id2label), so the
only thing that differs between them is the graph that turns features into
logits. That is what lets tests compare them number for number.

Loading (references, the hub, error messages) lives in `models.classifier`;
this module only wraps objects that are already loaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
import torch
from transformers import ASTFeatureExtractor, ASTForAudioClassification

if TYPE_CHECKING:
    from models.fbank import IncrementalFbank

FIRST_CRACK = "first_crack"
"""The label whose probability every backend reports."""

MAX_WINDOW_SECONDS = 10.0
"""Seconds. The published checkpoint was trained on 10 s chunks padded up to its
1024-frame input, so a window is never longer than 10 s even when the model's
input has room for a little more."""


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


MAX_STREAMS = 16  # incremental feature states kept: one per roaster on a shared model


class FeatureFrontEnd:
    """Raw 16 kHz windows -> normalised log-mel frames, via the model's own extractor.

    Windows shorter than `window_samples` are zero-padded (in frames, after the
    filter bank) and longer ones are truncated by `ASTFeatureExtractor` to its
    `max_length` frames, so any length is accepted; only the first
    `max_length` x 10 ms of a long window is heard by the model.

    `mode` picks the implementation of the same numbers (models/fbank.py):
    "incremental" (default: a single window reuses the frames it shares with
    the previous one), "fast" (vectorised, every frame recomputed) or
    "extractor" (`ASTFeatureExtractor` itself, ~5-10x slower; `bench` uses it
    for the published agent's baseline). They agree to float32 rounding.
    """

    MODES = ("incremental", "fast", "extractor")

    def __init__(self, extractor: ASTFeatureExtractor) -> None:
        self.extractor = extractor
        self.mode = "extractor"
        self._lock = threading.Lock()
        self._streams: dict[str, IncrementalFbank] = {}
        try:
            from models.fbank import FastFbank, IncrementalFbank

            self.fast: FastFbank | None = FastFbank(extractor)
            # The state of the unnamed stream (a caller with one audio stream).
            self.incremental: IncrementalFbank | None = IncrementalFbank(extractor)
            self._streams[""] = self.incremental
            self.mode = "incremental"
        except ValueError:  # not a 16 kHz kaldi front end: keep the extractor
            self.fast = self.incremental = None
        self.sample_rate: int = int(extractor.sampling_rate)
        self.num_mel_bins: int = int(extractor.num_mel_bins)
        self.max_length: int = int(extractor.max_length)
        hop = self.sample_rate // 100  # the extractor's fixed 10 ms frame hop
        self.window_samples: int = min(
            self.max_length * hop, int(MAX_WINDOW_SECONDS * self.sample_rate)
        )

    @property
    def streams(self) -> dict[str, IncrementalFbank]:
        """The incremental feature state of each audio stream, by key (a copy)."""
        with self._lock:
            return dict(self._streams)

    def _stream(self, key: str) -> IncrementalFbank:
        """The incremental state of stream `key`, made on first use; the least recently
        made is forgotten beyond MAX_STREAMS (it would only cost a full recompute)."""
        from models.fbank import IncrementalFbank

        stream = self._streams.get(key)
        if stream is None:
            if len(self._streams) >= MAX_STREAMS:
                oldest = next(k for k in self._streams if k != "")
                del self._streams[oldest]
            stream = self._streams[key] = IncrementalFbank(self.extractor)
        return stream

    def features(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        """[B, samples] float32 at `sample_rate` -> [B, max_length, num_mel_bins] float32.

        A 1-D array is taken as a batch of one. `streams` names each window's
        audio stream (a roaster's id): in "incremental" mode a window reuses
        the frames it shares with the previous window of the same stream.
        Without it, every window is taken as the next of one unnamed stream
        (a window that does not continue it is simply computed in full).
        """
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2:
            raise ValueError(f"windows must be [batch, samples], got shape {batch.shape}")
        keys = list(streams) if streams is not None else [""] * batch.shape[0]
        if len(keys) != batch.shape[0]:
            raise ValueError(f"{len(keys)} stream keys for {batch.shape[0]} windows")
        if batch.shape[0] == 0:
            return np.zeros((0, self.max_length, self.num_mel_bins), dtype=np.float32)
        if self.mode == "incremental" and self.incremental is not None:
            with self._lock:
                return np.stack([self._stream(k).features(x) for k, x in zip(keys, batch,
                                                                               strict=True)])
        if self.mode in ("incremental", "fast") and self.fast is not None:
            return self.fast(batch)
        out = self.extractor(list(batch), sampling_rate=self.sample_rate, return_tensors="np")
        return np.asarray(out["input_values"], dtype=np.float32)


class _Base:
    """Shared read-out; subclasses provide `_logits(feats)`."""

    backend: str = ""

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


class TorchClassifier(_Base):
    """An `ASTForAudioClassification` in eval mode on the CPU."""

    backend = "torch"

    def __init__(
        self,
        name: str,
        model: ASTForAudioClassification,
        extractor: ASTFeatureExtractor,
        threads: int | None = None,
    ) -> None:
        super().__init__(name, FeatureFrontEnd(extractor), model.config.id2label)
        cfg = model.config
        if (cfg.num_mel_bins, cfg.max_length) != (self.front.num_mel_bins, self.front.max_length):
            raise ValueError(
                f"preprocessor_config.json gives {self.front.num_mel_bins} mel bins x "
                f"{self.front.max_length} frames but config.json expects "
                f"{cfg.num_mel_bins} x {cfg.max_length}"
            )
        if threads is not None:
            # Process-wide in torch; the agent runs one model, so that is what we want.
            torch.set_num_threads(max(1, threads))
        self.model = model.eval()

    def _logits(self, feats: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(input_values=torch.from_numpy(feats)).logits.float().numpy()


def onnx_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session tuned for one model on a small machine.

    Full graph optimisation fuses attention and layer-norm kernels; sequential
    execution with `threads` intra-op threads (default: all cores) is the
    fastest layout for a single-stream transformer on CPU.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = max(1, threads if threads is not None else (os.cpu_count() or 1))
    opts.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


DYNAMIC_QUANT_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul"})


def is_dynamically_quantized(path: str | Path) -> bool:
    """Whether the graph quantises activations at run time (scales computed per tensor)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in DYNAMIC_QUANT_OPS for node in graph.node)


class OnnxClassifier(_Base):
    """An exported AST graph (`input_values` [B, frames, mel] -> `logits`) in onnxruntime."""

    backend = "onnx"

    def __init__(
        self,
        name: str,
        session: ort.InferenceSession,
        extractor: ASTFeatureExtractor,
        id2label: Mapping[int | str, str],
        onnx_path: Path | None = None,
    ) -> None:
        super().__init__(name, FeatureFrontEnd(extractor), id2label)
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
        # Run one window at a time when the export fixes the batch at 1, or when it is
        # dynamically quantised: DynamicQuantizeLinear takes one scale over the whole
        # tensor, batch included, so a window's p would depend on its batch-mates.
        self.per_window = shape[0] == 1 or (
            onnx_path is not None and is_dynamically_quantized(onnx_path)
        )

    def _logits(self, feats: np.ndarray) -> np.ndarray:
        if self.per_window and feats.shape[0] > 1:
            return np.concatenate([self._logits(feats[i : i + 1]) for i in range(len(feats))])
        (logits,) = self.session.run([self.output_name], {self.input_name: feats})
        return np.asarray(logits)
