"""The torch backend: an `ASTForAudioClassification` in eval mode on the CPU.

Importing this module imports torch, so nothing on the ONNX path does: it is reached
only through `models.inference.classifier` when a model has no ONNX export or `--backend torch`
is asked for, through `models.training.export`, training and `bench`. Callers that may run on
a runtime-only install call `firstcrack.models.extras.require("torch")` first, so a missing torch
is one `MissingExtraError` naming the extra, not an ImportError from deep inside.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch

from firstcrack.models.inference.backends import ClassifierBase
from firstcrack.models.inference.features import FeatureConfig
from firstcrack.models.inference.frontend import FeatureFrontEnd

if TYPE_CHECKING:
    from transformers import ASTForAudioClassification


class TorchClassifier(ClassifierBase):
    """An `ASTForAudioClassification` in eval mode on the CPU.

    `features` is the model's `ASTFeatureExtractor` (which also makes the
    "extractor" feature mode available, `bench`'s baseline) or a bare `FeatureConfig`.
    """

    backend = "torch"

    def __init__(
        self,
        name: str,
        model: ASTForAudioClassification,
        features: object,
        threads: int | None = None,
    ) -> None:
        front = (
            FeatureFrontEnd(features)
            if isinstance(features, FeatureConfig)
            else FeatureFrontEnd.from_extractor(features)
        )
        super().__init__(name, front, model.config.id2label)
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


def load_torch_classifier(
    ref: str, source: str, threads: int | None, local_files_only: bool
) -> TorchClassifier:
    """`from_pretrained` the model and its feature extractor from a directory or hub id."""
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    model = ASTForAudioClassification.from_pretrained(source, local_files_only=local_files_only)
    with quiet_mel_warning():
        extractor = ASTFeatureExtractor.from_pretrained(source, local_files_only=local_files_only)
    return TorchClassifier(ref, model, extractor, threads=threads)


@contextmanager
def quiet_mel_warning() -> Iterator[None]:
    """Silence one known, harmless warning from AST's numpy filter bank.

    With 128 mel bins (the published AST layout) over a 512-point FFT, the
    lowest kaldi mel filters fall between FFT bins and are all zero. The
    original AST was trained that way, so the warning would only alarm users
    on every start.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        yield
