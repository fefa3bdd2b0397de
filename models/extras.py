"""Optional parts of the install, and the one error a command gets when one is missing.

The base install is the runtime agent (ONNX, MQTT, audio, config). Extras add the
rest (`pip install 'firstcrack-agent[torch]'` and so on; pyproject.toml lists
them). A command that needs a missing extra calls `require` before importing
it, and gets `MissingExtraError` naming the extra to install; the CLI prints it
as one line and exits 2.
"""

from __future__ import annotations

import importlib.util

from firstcrack.models.contracts import UserError

# extra -> the top-level modules it provides, and what it is for (shown in the error).
# Keep in step with [project.optional-dependencies] in pyproject.toml (tests/test_packaging.py
# checks it). `dev` (pytest, ruff) and `all` (every extra) are not needed by any command.
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch", "transformers"), "the torch backend (safetensors models, no ONNX)"),
    "train": (("torch", "transformers", "accelerate", "onnx", "onnxscript"),
              "training and ONNX export"),
    "demo": (("amqtt",), "the in-process MQTT broker of `firstcrack demo`"),
    "plots": (("matplotlib",), "plots (`analyze --plot`, `evaluate --sweep`)"),
    "bench": (("psutil", "torch", "transformers", "onnx", "onnxscript"),
              "`firstcrack bench` (it compares torch with ONNX)"),
}


class MissingExtraError(UserError, ImportError):
    """A command needs an optional part of the install that is not there."""


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    modules, _ = EXTRAS[extra]
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(extra: str, what: str | None = None) -> None:
    """Raise MissingExtraError, naming the extra to install, unless all its modules import.

    `what` names the feature asking (defaults to the extra's own purpose).
    """
    absent = missing(extra)
    if absent:
        purpose = what or EXTRAS[extra][1]
        raise MissingExtraError(
            f"{purpose} needs the [{extra}] extra ({', '.join(absent)} not installed): "
            f"pip install 'firstcrack-agent[{extra}]'"
        )
