"""The torch side of `firstcrack tune`'s cheap mode: embed windows once, train the head.

The model is an `ASTForAudioClassification`, whose classifier is `ASTMLPHead`
(LayerNorm + Linear) on the pooled output, the mean of the CLS and distillation
tokens after the backbone's final LayerNorm. In head mode the backbone is frozen,
so each window's pooled output is a fixed 1-D embedding: it is computed once
(`embed`), cached (`firstcrack.models.tune.data.EmbeddingCache`), and the head is trained on
the cached vectors, which costs milliseconds per epoch even for the full AST. The
expensive part, one forward pass per window, is what a Pi 5 does overnight.

`train_layers=K` (K >= 1) also trains the last K encoder layers and the final
LayerNorm: the cache then holds the token sequence before those layers (float16,
[windows, tokens, hidden]), so the frozen part still runs once. It costs memory
(about 1.9 MB per window for the full AST) and K layers' forward and backward per
step, so it is a fallback, not the default (decision in `models/tune/fit.py`).

The architecture never changes: the tuned weights are copied into the same
`ASTForAudioClassification` and saved with `save_pretrained`, so every loader and
`firstcrack.models.training.export` treat the result like any other model directory.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


@dataclass
class HeadFit:
    """What training the head did; losses are class-weighted cross-entropy."""

    epochs: int
    first_loss: float
    final_loss: float
    train_accuracy: float
    n_windows: int
    n_positive: int


def _layers(model: Any) -> Any:
    backbone = model.audio_spectrogram_transformer
    return backbone.layers if hasattr(backbone, "layers") else backbone.encoder.layer


def _run_layers(model: Any, hidden: torch.Tensor, start: int) -> torch.Tensor:
    """The encoder from layer `start` on, the final LayerNorm, and the pooled output."""
    for layer in list(_layers(model))[start:]:
        out = layer(hidden)
        hidden = out[0] if isinstance(out, tuple) else out
    seq = model.audio_spectrogram_transformer.layernorm(hidden)
    return (seq[:, 0] + seq[:, 1]) / 2


def embed(model: Any, feats: np.ndarray, train_layers: int = 0, batch: int = 16) -> np.ndarray:
    """Frozen-part outputs for [N, frames, mel] features: pooled [N, H] (train_layers 0)
    or the hidden states before the last `train_layers` layers [N, T, H] as float16."""
    n_layers = len(_layers(model))
    if not 0 <= train_layers <= n_layers:
        raise ValueError(f"train_layers {train_layers}: the model has {n_layers} layers")
    stop = n_layers - train_layers
    backbone = model.audio_spectrogram_transformer
    parts = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(feats), batch):
            x = torch.from_numpy(np.ascontiguousarray(feats[i:i + batch]))
            hidden = backbone.embeddings(x)
            for layer in list(_layers(model))[:stop]:
                out = layer(hidden)
                hidden = out[0] if isinstance(out, tuple) else out
            if train_layers == 0:
                seq = backbone.layernorm(hidden)
                parts.append(((seq[:, 0] + seq[:, 1]) / 2).float().numpy())
            else:
                parts.append(hidden.to(torch.float16).numpy())
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def _weights(labels: np.ndarray) -> torch.Tensor:
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    return torch.tensor(len(labels) / (2 * np.maximum(counts, 1)), dtype=torch.float32)


def train_head(
    model: Any, cached: np.ndarray, labels: np.ndarray, positive_index: int,
    train_layers: int = 0, epochs: int = 200, lr: float = 3e-3, weight_decay: float = 1e-2,
    batch: int = 64, seed: int = 0,
) -> HeadFit:
    """Train the classifier head (and the last `train_layers` layers) on cached inputs,
    in place. Class-weighted cross-entropy, AdamW, cosine schedule; the backbone's
    frozen part is never touched. `positive_index` is first_crack's logit."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y = np.where(np.asarray(labels) == 1, positive_index, 1 - positive_index).astype(np.int64)
    trainable = list(model.classifier.parameters())
    if train_layers:
        trainable += list(model.audio_spectrogram_transformer.layernorm.parameters())
        for layer in list(_layers(model))[-train_layers:]:
            trainable += list(layer.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    n_layers = len(_layers(model))
    steps_per_epoch = max(1, int(np.ceil(len(y) / batch)))
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    weight = _weights(y)
    x_all, y_all = torch.from_numpy(np.asarray(cached)), torch.from_numpy(y)
    model.train()
    losses: list[float] = []
    for _ in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for i in range(0, len(y), batch):
            idx = torch.from_numpy(order[i:i + batch])
            x = x_all[idx].float()
            pooled = _run_layers(model, x, n_layers - train_layers) if train_layers else x
            loss = F.cross_entropy(model.classifier(pooled), y_all[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(y))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    with torch.inference_mode():
        logits = torch.cat([
            model.classifier(_run_layers(model, x_all[i:i + 256].float(), n_layers - train_layers)
                             if train_layers else x_all[i:i + 256].float())
            for i in range(0, len(y), 256)])
    accuracy = float((logits.argmax(-1) == y_all).float().mean())
    return HeadFit(epochs, losses[0], losses[-1], accuracy, len(y), int((labels == 1).sum()))


def tuned_copy(model: Any) -> Any:
    """A deep copy to tune, so the caller's loaded model stays the current one."""
    return copy.deepcopy(model)
