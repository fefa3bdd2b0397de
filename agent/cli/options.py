"""What several agent commands share: the model options, the config they merge into, and
the error for a usage mistake that is not a config, source or model error."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firstcrack.models.contracts import UserError

if TYPE_CHECKING:
    from firstcrack.agent.config import AgentConfig

log = logging.getLogger("firstcrack.cli")


class UsageError(UserError):
    """A user mistake that is not a config, source or model error."""


def add_config_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--config", type=Path, help=help_text)


def add_model_options(parser: argparse.ArgumentParser, default_help: str) -> None:
    parser.add_argument(
        "--model",
        help=f"hub id, local save_pretrained dir, .onnx file, or `demo` ({default_help})",
    )
    parser.add_argument(
        "--backend", choices=["auto", "onnx", "torch"], help="inference backend (default: auto)"
    )
    parser.add_argument("--threads", type=int, help="inference threads (default: all cores)")


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """`--config` with `--model`/`--backend`/`--threads` merged over it, validated.

    A flag that was given is an override even when falsy (`--threads 0`), so the config
    rejects it by name instead of silently ignoring it.
    """
    from firstcrack.agent.config import load_config

    overrides = {
        key: getattr(args, key)
        for key in ("model", "backend", "threads")
        if getattr(args, key, None) is not None
    }
    return load_config(getattr(args, "config", None), overrides=overrides)


def log_effective(config: AgentConfig) -> None:
    """The whole configuration in force, secrets masked, at DEBUG (`--debug` or log_level)."""
    from firstcrack.agent.config import redacted

    if log.isEnabledFor(logging.DEBUG):
        log.debug("effective configuration: %s", json.dumps(redacted(config), sort_keys=True))


def load_scorer(config: AgentConfig) -> Any:
    """The classifier the config names, on its backend and threads."""
    from firstcrack.models.inference.classifier import load_classifier

    return load_classifier(config.model, backend=config.backend, threads=config.threads)
