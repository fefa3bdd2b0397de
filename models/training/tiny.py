"""Tiny Audio Spectrogram Transformer configs for tests and the demo model.

A full AST (768 hidden, 12 layers, 1212 patches) is slow on a CPU
(docs/PERFORMANCE.md). Tests and the demo need the same architecture and the same
feature pipeline, but small enough that loading, export and inference are cheap. The
defaults here give 4 x 62 = 248 patches of 64 hidden units in 2 layers: the real model's
code path, at a fraction of its cost.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

from firstcrack.models.contracts import SAMPLE_RATE

"""Hertz. AST's kaldi-style filter bank is defined at 16 kHz."""

LABELS: tuple[str, str] = ("no_first_crack", "first_crack")
"""Label order of the published checkpoint: index 0 is no_first_crack."""


def tiny_ast_config(
    num_mel_bins: int = 64,
    max_length: int = 1000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    patch_stride: int = 16,
    labels: tuple[str, ...] = LABELS,
    initializer_range: float = 0.02,
) -> ASTConfig:
    """A small AST classifier config.

    `max_length` is in spectrogram frames of 10 ms, so 1000 frames is a 10 s
    window. `patch_stride` is used for both frequency and time; with the 16x16
    patch, stride 16 means non-overlapping patches (the cheapest layout).
    `labels` gives id2label in index order; pass a different order (e.g.
    `("first_crack", "no_first_crack")`) to build models whose label index is
    not the usual one, which is how tests prove that nothing assumes index 1.
    `initializer_range` is the std of the random initial weights; tests raise
    it (e.g. 0.2) so an untrained model's output varies visibly with its input.
    """
    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by heads {heads}")
    id2label = dict(enumerate(labels))
    return ASTConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 4,
        patch_size=16,
        frequency_stride=patch_stride,
        time_stride=patch_stride,
        max_length=max_length,
        num_mel_bins=num_mel_bins,
        num_labels=len(labels),
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
        initializer_range=initializer_range,
    )


def tiny_feature_extractor(config: ASTConfig) -> ASTFeatureExtractor:
    """The feature extractor whose output shape matches `config`.

    The model's patch embedding fixes both the mel-bin count and the frame
    count, so the extractor must produce exactly `[max_length, num_mel_bins]`.
    The AudioSet mean/std defaults are kept: they only rescale the input, and
    keeping them makes a model fine-tuned from the AudioSet checkpoint and a
    tiny model share one pipeline.
    """
    return ASTFeatureExtractor(
        sampling_rate=SAMPLE_RATE,
        num_mel_bins=config.num_mel_bins,
        max_length=config.max_length,
    )


def save_tiny_model(out_dir: str | Path, seed: int = 0, **config_kwargs: object) -> Path:
    """Write a randomly initialised tiny AST classifier with `save_pretrained`.

    The directory then holds `config.json`, `model.safetensors` and
    `preprocessor_config.json`, the same layout as a hub checkpoint, so every
    loader path can be tested offline. `seed` makes the weights reproducible.
    Extra keyword arguments go to `tiny_ast_config`. Returns the directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = tiny_ast_config(**config_kwargs)  # type: ignore[arg-type]
    torch.manual_seed(seed)
    model = ASTForAudioClassification(config)
    model.eval()
    model.save_pretrained(out)
    tiny_feature_extractor(config).save_pretrained(out)
    return out
