"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- models: a tiny AST checkpoint (owned by the models/classifier helper) ----------------


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny AST classifier saved with save_pretrained (10 s windows, 16 kHz).

    Labels are no_first_crack=0 / first_crack=1, like the published checkpoint.
    initializer_range 0.1 makes p(first_crack) vary visibly with the input
    (roughly 0.4-0.8 on noise), so tests can tell inputs apart. Built once per
    session, in a few seconds, with no network.
    """
    from firstcrack.models.training.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"), seed=0, initializer_range=0.1)
