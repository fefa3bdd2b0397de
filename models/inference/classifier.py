"""Load an AST first-crack classifier from any model reference.

A reference is one of:

- `demo`: the shipped pretrained ear in `models/demo` (an AudioSet-pretrained backbone
  with a head trained on simulated roasts; models/inference/ear_head.py);
- `ast-demo`: the tiny AST shipped in `models/ast-demo` (trained from scratch on simulated
  roasts; the offline stand-in for the published AST);
- a local `save_pretrained` directory (`config.json`, weights,
  `preprocessor_config.json`), optionally holding exported ONNX files under
  `onnx/int8/`, `int8/`, `onnx/fp32/` or `fp32/`, or one export folder itself;
- an `.onnx` file with `preprocessor_config.json` beside it, and `config.json`
  beside it or up to two directories above (else id2label is read from the
  ONNX metadata that `firstcrack.models.training.export` writes);
- a Hugging Face hub id such as `syamaner/coffee-first-crack-detection`,
  read from the local HF cache and downloaded once when the hub is reachable.

Every failure to load is a `ModelLoadError` whose message names the reference,
the reason, and the way forward (`--model demo` or a local path), so the CLI
can print it as one line and exit 2. The one exception is a reference that needs
the torch backend on an install without it: `MissingExtraError` names the extra.

An ONNX reference (demo, a directory with an export, an .onnx file, the hub's
int8 file) is loaded with onnxruntime and the plain-JSON feature configuration
(models/inference/features.py) only: torch and transformers are imported by the torch
backend alone, and huggingface_hub only for a hub id.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlparse

import numpy as np

from firstcrack.models.contracts import Scorer, UserError
from firstcrack.models.extras import MissingExtraError, missing, require
from firstcrack.models.inference.backends import LabelError, OnnxClassifier, onnx_session
from firstcrack.models.inference.ear_head import EAR_FILE
from firstcrack.models.inference.features import FeatureConfig
from firstcrack.models.inference.profile import (
    PUBLISHED_PROFILE,
    DetectionProfile,
    ProfileError,
    find_profile,
    read_profile,
)

SECOND_CRACK_PROFILE = "second_crack_profile.json"
"""The second-crack rule of a model with a second-crack output, beside its ear.json."""

if TYPE_CHECKING:
    from firstcrack.models.inference.torch_backend import TorchClassifier

log = logging.getLogger(__name__)

MODELS_DIR: Path = Path(__file__).resolve().parents[1]
"""The `models/` folder, which holds the shipped model folders."""
DEMO_MODEL_DIR: Path = MODELS_DIR / "demo"
"""The shipped demo model: the pretrained ear (models/inference/ear_head.py)."""
AST_DEMO_MODEL_DIR: Path = MODELS_DIR / "ast-demo"
"""The tiny AST trained from scratch on simulated roasts: the offline stand-in AST."""
SHIPPED_MODELS: dict[str, Path] = {"demo": DEMO_MODEL_DIR, "ast-demo": AST_DEMO_MODEL_DIR}

"""The fine-tuned checkpoint that `run` and `analyze` use by default."""

HUB_ONNX_FILE = "onnx/int8/model_quantized.onnx"
"""Where the published checkpoint keeps its int8 ONNX export, relative to the repo."""

LOCAL_ONNX_CANDIDATES: tuple[str, ...] = (
    "onnx/int8/model_quantized.onnx",
    "int8/model_quantized.onnx",
    "onnx/fp32/model.onnx",
    "fp32/model.onnx",
    "model_quantized.onnx",
    "model.onnx",
)
"""ONNX files looked for inside a model directory, best first (int8 is fastest on CPU).
The last two make an export's own folder (e.g. the hub's `onnx/int8/`, downloaded by
hand) a model directory too."""

BACKENDS = ("auto", "torch", "onnx")

HUB_PROBE_TIMEOUT_S = 3.0
"""Seconds. huggingface_hub retries an unreachable host for ~25 s per file; a
single TCP connect tells us in milliseconds (no DNS) or at most this long."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WAY_FORWARD = (
    "Use --model demo (the shipped demo model) or --model PATH "
    "(a save_pretrained directory or an .onnx file with preprocessor_config.json beside it)."
)


class ModelLoadError(UserError):
    """A model reference could not be turned into a working classifier.

    The message names the reference, says why, and how to go on.
    """

    def __init__(self, ref: str, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(f"The model '{ref}' could not be loaded: {reason}. {_WAY_FORWARD}")


@runtime_checkable
class Classifier(Scorer, Protocol):
    """A loaded model: a `Scorer` (models/contracts.py) that also says what it is built for.

    `name` is the model reference as given (e.g. "demo", a path, a hub id).
    """

    backend: str
    """"torch" or "onnx"."""
    sample_rate: int
    """Hertz; the chain refuses a model whose rate is not `SAMPLE_RATE`."""
    window_samples: int
    """Samples per window the model was built for (160000 = 10 s); the chain refuses
    windows of another length (agent/live/chain.py, `check_window`)."""
    profile: DetectionProfile
    """The detector settings chosen for this model (models/inference/profile.py); the published
    AST's settings for a model that carries none."""

    def features(self, windows: np.ndarray) -> np.ndarray:
        """[B, samples] float32 16 kHz -> model input features [B, frames, mel]."""
        ...

    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        """[B, frames, mel] -> [B] p(first_crack) float32."""
        ...

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        """predict_features(features(windows))."""
        ...


def resolve_model_ref(ref: str) -> str:
    """`demo` and `ast-demo` -> the shipped model directories; anything else unchanged."""
    return str(SHIPPED_MODELS[ref]) if ref in SHIPPED_MODELS else ref


def load_classifier(
    ref: str,
    backend: str = "auto",
    threads: int | None = None,
    offline: bool | None = None,
) -> Classifier:
    """Load the classifier named by `ref` (see the module docstring).

    `backend`: "torch", "onnx", or "auto" (ONNX when an .onnx file is available
    for the reference, int8 first, else torch). For a hub id, "onnx" and "auto"
    try the hub's int8 export and fall back to torch weights when it is absent.
    `threads`: intra-op CPU threads (default: onnxruntime uses all cores, torch
    keeps its own setting). `offline`: never touch the network; None reads
    HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE from the environment.
    Raises `ModelLoadError` for every way a reference can fail to load.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(
            ref, f"unknown backend '{backend}' (choose one of {', '.join(BACKENDS)})"
        )
    path = Path(resolve_model_ref(ref)).expanduser()
    try:
        if path.is_file() or path.is_dir():
            profile = find_profile(path)  # a broken profile fails before the model loads
            load = _load_file if path.is_file() else _load_dir
            classifier = load(ref, path, backend, threads)
            classifier.profile = profile
            return classifier
        if ref in SHIPPED_MODELS:
            raise ModelLoadError(ref, f"the shipped model is missing from {path}")
        if _HUB_ID.match(ref) and not ref.endswith(".onnx"):
            classifier = _load_hub(ref, backend, threads, _is_offline(offline))
            classifier.profile = PUBLISHED_PROFILE  # the hub checkpoint carries no profile
            return classifier
        raise ModelLoadError(ref, f"no such file or directory: {path}")
    except (ModelLoadError, MissingExtraError):
        raise
    except (LabelError, ProfileError) as exc:
        raise ModelLoadError(ref, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear error
        raise ModelLoadError(ref, f"{type(exc).__name__}: {_first_line(exc)}") from exc


# --- local files --------------------------------------------------------------------------


def _load_file(ref: str, path: Path, backend: str, threads: int | None) -> Classifier:
    if path.suffix != ".onnx":
        raise ModelLoadError(
            ref, f"{path} is a file but not an .onnx model (give its directory instead)"
        )
    if backend == "torch":
        raise ModelLoadError(ref, f"{path} is an ONNX file; it cannot run on the torch backend")
    return _onnx_classifier(ref, path, threads)


def _load_dir(ref: str, path: Path, backend: str, threads: int | None) -> Classifier:
    if (path / EAR_FILE).is_file():
        return _ear_classifier(ref, path, backend, threads)
    onnx_file = next((path / c for c in LOCAL_ONNX_CANDIDATES if (path / c).is_file()), None)
    if backend == "onnx" or (backend == "auto" and onnx_file is not None):
        if onnx_file is None:
            raise ModelLoadError(
                ref,
                f"no ONNX export in {path} (looked for {', '.join(LOCAL_ONNX_CANDIDATES)}; "
                "create one with `firstcrack export`)",
            )
        return _onnx_classifier(ref, onnx_file, threads)
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            ref, f"{path} is not a model directory (no config.json from save_pretrained)"
        )
    if not (path / "preprocessor_config.json").is_file():
        raise ModelLoadError(ref, f"{path} has no preprocessor_config.json")
    return _torch_classifier(ref, str(path), threads, local_files_only=True)


def _ear_classifier(ref: str, path: Path, backend: str, threads: int | None) -> Classifier:
    """A pretrained ear (models/inference/ear_head.py): ONNX backbone + linear head, no torch."""
    from firstcrack.models.inference.ear_head import EarClassifier, EarFormatError, read_ear_spec

    if backend == "torch":
        raise ModelLoadError(ref, f"{path} is an ear model; it runs on the onnx backend only")
    try:
        ear = EarClassifier(ref, read_ear_spec(path), threads=threads)
        second = path / SECOND_CRACK_PROFILE
        if ear.spec.second_crack is not None and second.is_file():
            ear.second_crack_profile = read_profile(second)
        return ear  # type: ignore[return-value]
    except (EarFormatError, ProfileError) as exc:
        raise ModelLoadError(ref, str(exc)) from None


def _torch_classifier(
    ref: str, source: str, threads: int | None, local_files_only: bool
) -> TorchClassifier:
    """The torch backend: the only loader that imports torch and transformers."""
    require("torch", f"the torch backend for '{ref}' (used when there is no ONNX export)")
    from firstcrack.models.inference.torch_backend import load_torch_classifier

    return load_torch_classifier(ref, source, threads, local_files_only)


def _onnx_classifier(
    ref: str, onnx_file: Path, threads: int | None, config_file: Path | None = None
) -> OnnxClassifier:
    """onnxruntime plus the feature configuration read as plain JSON (no transformers)."""
    preprocessor = onnx_file.parent / "preprocessor_config.json"
    if not preprocessor.is_file():
        raise ModelLoadError(ref, f"no preprocessor_config.json beside {onnx_file}")
    features = FeatureConfig.from_file(preprocessor)
    session = onnx_session(onnx_file, threads)
    id2label = _onnx_id2label(ref, onnx_file, session, config_file)
    return OnnxClassifier(ref, session, features, id2label, onnx_path=onnx_file)


def _onnx_id2label(ref: str, onnx_file: Path, session: object, config_file: Path | None) -> dict:
    """id2label from config.json (beside the file, or up to two levels up), else ONNX metadata."""
    candidates = [config_file] if config_file else []
    candidates += [d / "config.json" for d in (onnx_file.parent, *onnx_file.parents[:2])]
    for cfg in candidates:
        if cfg is not None and cfg.is_file():
            id2label = json.loads(cfg.read_text()).get("id2label")
            if id2label:
                return id2label
    meta = session.get_modelmeta().custom_metadata_map  # type: ignore[attr-defined]
    if "id2label" in meta:
        return json.loads(meta["id2label"])
    raise ModelLoadError(
        ref, f"no id2label for {onnx_file} (no config.json near it and none in its ONNX metadata)"
    )


# --- the hub ------------------------------------------------------------------------------


def _load_hub(ref: str, backend: str, threads: int | None, offline: bool) -> Classifier:
    """Cache first, then the network if allowed and reachable; never hang on retries."""
    if not offline and not _hub_reachable():
        offline = True
        why_offline = "the Hugging Face hub is unreachable and it is not in the local cache"
    else:
        why_offline = "offline (HF_HUB_OFFLINE) and it is not in the local cache"
    if backend in ("onnx", "auto"):
        found = _hub_onnx(ref, offline)
        if found is not None:
            onnx_file, config_file = found
            return _onnx_classifier(ref, onnx_file, threads, config_file)
        log.info("%s: no ONNX export available on the hub or in the cache; using torch", ref)
        if offline and missing("torch"):  # it is not here in any form this install can run
            raise ModelLoadError(ref, f"{why_offline} as an ONNX export")
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return _torch_classifier(ref, ref, threads, local_files_only=offline)
    except (LocalEntryNotFoundError, OSError) as exc:
        if offline:
            raise ModelLoadError(ref, why_offline) from exc
        if isinstance(exc, RepositoryNotFoundError):
            raise ModelLoadError(ref, "no such model on the Hugging Face hub") from exc
        raise


def _hub_onnx(ref: str, offline: bool) -> tuple[Path, Path | None] | None:
    """Download (or find cached) the int8 export, its preprocessor config and config.json."""
    from huggingface_hub import hf_hub_download

    folder = HUB_ONNX_FILE.rsplit("/", 1)[0]
    try:
        onnx_file = hf_hub_download(ref, HUB_ONNX_FILE, local_files_only=offline)
        hf_hub_download(ref, f"{folder}/preprocessor_config.json", local_files_only=offline)
    except Exception as exc:  # noqa: BLE001 - any miss means "use torch instead"
        log.debug("%s: no hub ONNX export (%s)", ref, _first_line(exc))
        return None
    try:
        config_file: Path | None = Path(
            hf_hub_download(ref, "config.json", local_files_only=offline)
        )
    except Exception:  # noqa: BLE001 - ONNX metadata is the fallback for labels
        config_file = None
    return Path(onnx_file), config_file


def _is_offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").upper()
    return env in {"1", "ON", "YES", "TRUE"} or bool(constants.HF_HUB_OFFLINE)


def _hub_reachable() -> bool:
    """One TCP connect to the hub endpoint, bounded by HUB_PROBE_TIMEOUT_S."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"
