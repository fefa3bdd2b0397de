"""Training's defaults and its error, apart from training itself.

Only the standard library, so `train`'s parser is built without torch (a base install
has no [train] extra).
"""

from __future__ import annotations

from firstcrack.models.contracts import UserError

DEFAULT_BASE_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"
FINE_TUNE_LR, SCRATCH_LR = 5e-5, 5e-4
"""Default learning rates: a pretrained backbone wants small steps, a random one larger."""


class TrainError(UserError, ValueError):
    """Bad training input: options, base model, or a dataset that cannot be split."""
