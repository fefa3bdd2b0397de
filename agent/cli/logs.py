"""Logging for every command, configured here and nowhere else.

One stderr handler on the root logger. Our own loggers (all named `firstcrack.…`) log at
the level in force: INFO by default, `log_level` from the config for `run`, DEBUG with
`--debug`. Everything else (onnxruntime's quantiser, which logs one INFO line per tensor
on the root logger; transformers; the demo broker's amqtt) reaches the terminal only at
WARNING and above, unless `--debug` asks for everything. So no command (export, tune,
bench included) floods the terminal with a library's INFO lines.
"""

from __future__ import annotations

import logging
import os
import sys

OWN_PREFIX = "firstcrack"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LibraryFilter(logging.Filter):
    """Pass our own records at any level, a library's at WARNING and above."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose = False

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN_PREFIX or record.name.startswith(OWN_PREFIX + ".")
        return own or self.verbose or record.levelno >= logging.WARNING


_filter = LibraryFilter()


def configure_logging(debug: bool = False) -> None:
    """Install the one handler and set the level: DEBUG or INFO.

    Like `logging.basicConfig`, it adds no handler when the root logger already has one
    (a host that embeds `main`, such as pytest, owns the output then).
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_filter)
        root.addHandler(handler)
    _filter.verbose = debug
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    _quiet_transformers()


def set_level(level: str | int, debug: bool = False) -> None:
    """The level in force for our loggers (`run` applies the config's `log_level`)."""
    logging.getLogger().setLevel(logging.DEBUG if debug else level)


def _quiet_transformers() -> None:
    """transformers draws a progress bar on every model load; our own bars are enough.

    Environment variables and logger levels only: importing transformers here would
    import torch on every command. transformers reads these variables when it is first
    imported, which, when a command needs it, is after this.
    """
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:
        hf_logging.disable_progress_bar()
    hub_utils = sys.modules.get("huggingface_hub.utils")
    if hub_utils is not None:
        hub_utils.disable_progress_bars()
