"""Model loading and inference backends (models.inference.classifier, models.inference.backends).

Every model here is a tiny random-init AST built locally; nothing touches the
network. A random model is enough: these tests check that references load,
that backends agree, and that the first_crack column is found by name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import firstcrack.models as models
from firstcrack.models.inference import classifier as clf
from firstcrack.models.inference.backends import DYNAMIC_QUANT_OPS, is_dynamically_quantized
from firstcrack.models.inference.classifier import (
    DEMO_MODEL_DIR,
    Classifier,
    ModelLoadError,
    load_classifier,
    resolve_model_ref,
)
from firstcrack.models.training.export import demo_windows, export_onnx
from firstcrack.models.training.tiny import save_tiny_model

SWAPPED = ("first_crack", "no_first_crack")
INT8_BOUND = 0.05
"""Max |p_int8 - p_torch|. Measured 0.012 on the tiny test model; 4x headroom."""


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """Four 10 s windows of noise bursts at levels 1:4:16:64, [4, 160000] float32."""
    return demo_windows(160_000)


@pytest.fixture(scope="module")
def onnx_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with its exports under onnx/fp32 and onnx/int8."""
    out = tmp_path_factory.mktemp("with_onnx") / "model"
    shutil.copytree(tiny_model_dir, out)
    export_onnx(out, out / "onnx")
    return out


@pytest.fixture(scope="module")
def swapped_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's exact weights (same seed) with id2label {0: first_crack, 1: no_...}."""
    out = save_tiny_model(
        tmp_path_factory.mktemp("swapped") / "model", seed=0, initializer_range=0.1, labels=SWAPPED
    )
    export_onnx(out, out / "onnx")
    return out


def expect_load_error(ref: str, *fragments: str, **kwargs: object) -> ModelLoadError:
    """Loading `ref` raises ModelLoadError naming the reference, the reason and the way out."""
    with pytest.raises(ModelLoadError) as info:
        load_classifier(ref, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    for fragment in ("could not be loaded", "--model demo", "--model PATH", ref):
        assert fragment in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


# --- loading -----------------------------------------------------------------------------


def test_torch_load_from_save_pretrained_dir(tiny_model_dir: Path, windows: np.ndarray) -> None:
    model = load_classifier(str(tiny_model_dir))
    assert isinstance(model, Classifier)
    assert (model.name, model.backend) == (str(tiny_model_dir), "torch")
    assert (model.sample_rate, model.window_samples) == (16_000, 160_000)
    p = model.predict(windows)
    assert p.shape == (4,) and p.dtype == np.float32
    assert np.all((p > 0) & (p < 1))
    assert np.ptp(p) > 0.1, "the test model should tell these windows apart"


@pytest.mark.parametrize("rel", ["onnx/fp32/model.onnx", "onnx/int8/model_quantized.onnx"])
def test_onnx_file_loads(onnx_dir: Path, rel: str, windows: np.ndarray) -> None:
    model = load_classifier(str(onnx_dir / rel))
    assert (model.backend, model.window_samples) == ("onnx", 160_000)
    assert model.predict(windows).shape == (4,)


def test_auto_prefers_int8_onnx_and_torch_can_be_forced(onnx_dir: Path) -> None:
    auto = load_classifier(str(onnx_dir), backend="auto")
    assert auto.backend == "onnx"
    assert auto.onnx_path == onnx_dir / "onnx/int8/model_quantized.onnx"  # type: ignore[attr-defined]
    assert load_classifier(str(onnx_dir), backend="torch").backend == "torch"


def test_auto_without_onnx_uses_torch(tiny_model_dir: Path) -> None:
    assert load_classifier(str(tiny_model_dir), backend="auto").backend == "torch"


def test_fp32_dir_layout_is_found(onnx_dir: Path) -> None:
    """A directory holding fp32/model.onnx (export output without int8) loads with onnx."""
    model = load_classifier(str(onnx_dir / "onnx"), backend="onnx")
    assert model.onnx_path == onnx_dir / "onnx/int8/model_quantized.onnx"  # type: ignore[attr-defined]
    (onnx_dir / "fp32_only").mkdir(exist_ok=True)
    shutil.copytree(onnx_dir / "onnx/fp32", onnx_dir / "fp32_only/fp32", dirs_exist_ok=True)
    model = load_classifier(str(onnx_dir / "fp32_only"))
    assert model.onnx_path == onnx_dir / "fp32_only/fp32/model.onnx"  # type: ignore[attr-defined]


def test_dynamic_quantisation_is_found_in_the_file_bytes(onnx_dir: Path) -> None:
    """The byte scan agrees with parsing the graph, whatever the chunk boundaries."""
    import onnx

    for rel, want in (("onnx/int8/model_quantized.onnx", True), ("onnx/fp32/model.onnx", False)):
        path = onnx_dir / rel
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert bool(ops & DYNAMIC_QUANT_OPS) is want
        for chunk in (5, 97, 4096, 1 << 22):
            assert is_dynamically_quantized(path, chunk=chunk) is want, (rel, chunk)


def test_onnx_model_keeps_the_preprocessor_configuration(onnx_dir: Path) -> None:
    """The ONNX backend reads preprocessor_config.json as JSON (no extractor object)."""
    model = load_classifier(str(onnx_dir / "onnx/int8/model_quantized.onnx"))
    pre = json.loads((onnx_dir / "onnx/int8/preprocessor_config.json").read_text())
    front = model.front  # type: ignore[attr-defined]
    assert front.extractor is None and front.mode == "incremental"
    assert (front.num_mel_bins, front.max_length) == (pre["num_mel_bins"], pre["max_length"])


@pytest.mark.parametrize("sub", ["int8", "fp32"])
def test_an_export_folder_is_a_model_directory(onnx_dir: Path, sub: str) -> None:
    """The hub's onnx/int8 folder, downloaded as it is, loads by its directory."""
    model = load_classifier(str(onnx_dir / "onnx" / sub))
    assert model.backend == "onnx"
    assert model.onnx_path.parent == onnx_dir / "onnx" / sub  # type: ignore[attr-defined]


def test_onnx_threads_setting(onnx_dir: Path) -> None:
    model = load_classifier(str(onnx_dir / "onnx/fp32/model.onnx"), threads=1)
    assert model.session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]


# --- numbers -----------------------------------------------------------------------------


def test_torch_and_onnx_agree(onnx_dir: Path, windows: np.ndarray) -> None:
    """fp32 ONNX matches torch to float rounding; int8 within INT8_BOUND."""
    torch_model = load_classifier(str(onnx_dir), backend="torch")
    feats = torch_model.features(windows)
    p_torch = torch_model.predict_features(feats)
    p_fp32 = load_classifier(str(onnx_dir / "onnx/fp32/model.onnx")).predict_features(feats)
    p_int8 = load_classifier(str(onnx_dir / "onnx/int8/model_quantized.onnx")).predict(windows)
    np.testing.assert_allclose(p_fp32, p_torch, atol=1e-4, rtol=0)
    np.testing.assert_allclose(p_int8, p_torch, atol=INT8_BOUND, rtol=0)


def test_predict_is_predict_features_of_features(tiny_model_dir: Path, windows: np.ndarray) -> None:
    model = load_classifier(str(tiny_model_dir))
    feats = model.features(windows)
    assert feats.shape == (4, 1000, 64) and feats.dtype == np.float32
    np.testing.assert_array_equal(model.predict(windows), model.predict_features(feats))


@pytest.mark.parametrize("rel", [".", "onnx/fp32/model.onnx", "onnx/int8/model_quantized.onnx"])
def test_batch_equals_single_predictions(onnx_dir: Path, windows: np.ndarray, rel: str) -> None:
    """A window's p does not depend on its batch-mates (int8 runs per window for this)."""
    model = load_classifier(str(onnx_dir / rel), backend="torch" if rel == "." else "onnx")
    batch = model.predict(windows[:3])
    singles = np.concatenate([model.predict(windows[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(batch, singles, atol=1e-5, rtol=0)


def test_empty_batch_gives_empty_result(tiny_model_dir: Path) -> None:
    model = load_classifier(str(tiny_model_dir))
    assert model.predict(np.zeros((0, 160_000), dtype=np.float32)).shape == (0,)


def test_short_windows_are_padded_and_long_ones_truncated(tiny_model_dir: Path) -> None:
    """The extractor pads to / truncates at max_length frames (1000 x 10 ms, 25 ms frames)."""
    model = load_classifier(str(tiny_model_dir))
    rng = np.random.default_rng(1)
    long = (0.1 * rng.standard_normal((1, 200_000))).astype(np.float32)
    heard = 400 + 999 * 160  # samples that make exactly 1000 frames
    np.testing.assert_array_equal(model.features(long), model.features(long[:, :heard]))
    short = model.features(long[0, :16_000])  # 1-D input is a batch of one
    assert short.shape == (1, 1000, 64)
    assert np.all(short[0, 98:] == short[0, -1]), "frames after 1 s are padding"


# --- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_first_crack_index_comes_from_id2label(
    tiny_model_dir: Path, swapped_dir: Path, windows: np.ndarray, backend: str
) -> None:
    """Same weights with labels swapped report 1 - p: nothing assumes first_crack is index 1."""
    original = load_classifier(str(tiny_model_dir), backend="torch").predict(windows)
    swapped = load_classifier(str(swapped_dir), backend=backend)
    assert swapped.first_crack_index == 0  # type: ignore[attr-defined]
    tol = 1e-5 if backend == "torch" else INT8_BOUND
    np.testing.assert_allclose(swapped.predict(windows), 1.0 - original, atol=tol, rtol=0)


def test_lone_onnx_file_reads_labels_from_metadata(
    swapped_dir: Path, tmp_path: Path, windows: np.ndarray
) -> None:
    """With no config.json anywhere near, id2label comes from the export's ONNX metadata."""
    lone = tmp_path / "a" / "b" / "c"
    lone.mkdir(parents=True)
    for name in ("model.onnx", "preprocessor_config.json"):
        shutil.copy(swapped_dir / "onnx/fp32" / name, lone / name)
    model = load_classifier(str(lone / "model.onnx"))
    assert model.first_crack_index == 0  # type: ignore[attr-defined]
    reference = load_classifier(str(swapped_dir), backend="torch").predict(windows)
    np.testing.assert_allclose(model.predict(windows), reference, atol=1e-4, rtol=0)


def test_published_layout_finds_config_two_levels_up(onnx_dir: Path, tmp_path: Path) -> None:
    """Hub layout: config.json at the root, onnx/int8/{model_quantized.onnx, preprocessor...}."""
    root = tmp_path / "published"
    (root / "onnx/int8").mkdir(parents=True)
    shutil.copy(onnx_dir / "config.json", root / "config.json")
    for name in ("model_quantized.onnx", "preprocessor_config.json"):
        shutil.copy(onnx_dir / "onnx/int8" / name, root / "onnx/int8" / name)
    assert load_classifier(str(root)).first_crack_index == 1  # type: ignore[attr-defined]


# --- references and errors ---------------------------------------------------------------


def test_demo_resolves_to_the_shipped_directory() -> None:
    assert DEMO_MODEL_DIR == Path(models.__file__).parent / "demo"
    assert resolve_model_ref("demo") == str(DEMO_MODEL_DIR)
    assert resolve_model_ref("ast-demo") == str(Path(models.__file__).parent / "ast-demo")
    assert resolve_model_ref("some/hub-id") == "some/hub-id"
    assert resolve_model_ref("./demo") == "./demo"


def test_ast_demo_loads_from_its_dir(monkeypatch: pytest.MonkeyPatch,
                                     tiny_model_dir: Path) -> None:
    monkeypatch.setitem(clf.SHIPPED_MODELS, "ast-demo", tiny_model_dir)
    model = load_classifier("ast-demo")
    assert (model.name, model.backend) == ("ast-demo", "torch")


def test_missing_demo_is_a_load_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(clf.SHIPPED_MODELS, "demo", tmp_path / "nope")
    expect_load_error("demo", "shipped model is missing")


def test_missing_path(tmp_path: Path) -> None:
    expect_load_error(str(tmp_path / "no_such_model"), "no such file or directory")


def test_directory_without_config(tmp_path: Path) -> None:
    expect_load_error(str(tmp_path), "no config.json")


def test_corrupt_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    expect_load_error(str(broken))


def test_corrupt_onnx_file(onnx_dir: Path, tmp_path: Path) -> None:
    shutil.copy(onnx_dir / "onnx/fp32/preprocessor_config.json", tmp_path)
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    expect_load_error(str(bad))


def test_onnx_without_preprocessor_config(onnx_dir: Path, tmp_path: Path) -> None:
    shutil.copy(onnx_dir / "onnx/fp32/model.onnx", tmp_path / "model.onnx")
    expect_load_error(str(tmp_path / "model.onnx"), "no preprocessor_config.json")


def test_model_without_first_crack_label(tmp_path: Path) -> None:
    save_tiny_model(tmp_path / "m", labels=("quiet", "loud"))
    error = expect_load_error(str(tmp_path / "m"), "no 'first_crack' label", "'quiet'", "'loud'")
    assert error.ref == str(tmp_path / "m")


def test_wrong_backend_choices(onnx_dir: Path, tiny_model_dir: Path) -> None:
    expect_load_error(str(tiny_model_dir), "unknown backend", backend="tensorrt")
    expect_load_error(str(tiny_model_dir), "no ONNX export", backend="onnx")
    expect_load_error(str(onnx_dir / "onnx/fp32/model.onnx"), "torch backend", backend="torch")
    expect_load_error(str(onnx_dir / "config.json"), "not an .onnx model")


def test_mismatched_preprocessor_config(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(tiny_model_dir, broken)
    pre = json.loads((broken / "preprocessor_config.json").read_text())
    (broken / "preprocessor_config.json").write_text(json.dumps({**pre, "num_mel_bins": 80}))
    expect_load_error(str(broken), "80 mel bins")


# --- the hub (never the network) ---------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("how", ["env", "argument"])
def test_uncached_hub_id_offline_fails_fast(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """HF_HUB_OFFLINE (or offline=True) and not cached: a clear error, no network retries."""
    monkeypatch.setattr(clf, "_hub_reachable", lambda: pytest.fail("must not probe the hub"))
    kwargs: dict[str, object] = {}
    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        kwargs["offline"] = True
    for backend in ("auto", "torch", "onnx"):
        expect_load_error("nobody-firstcrack/no-such-model", "offline", backend=backend, **kwargs)


def test_uncached_hub_id_offline_without_torch_says_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ONNX export in the cache and no torch to try weights with: the cause is the cache."""
    monkeypatch.setattr(clf, "missing", lambda extra: ["torch", "transformers"])
    expect_load_error("nobody-firstcrack/no-such-model", "offline", "as an ONNX export",
                      offline=True)


@pytest.mark.timeout(30)
def test_unreachable_hub_is_treated_as_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(clf, "_hub_reachable", lambda: False)
    expect_load_error("nobody-firstcrack/no-such-model", "unreachable", offline=False)


def test_hub_id_uses_cached_int8_onnx(onnx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id whose int8 export is in the cache loads with onnx (download faked from disk)."""
    import huggingface_hub

    def fake_download(repo_id: str, filename: str, local_files_only: bool = False) -> str:
        assert (repo_id, local_files_only) == ("someone/roast-model", True)
        path = onnx_dir / filename
        if not path.is_file():
            raise huggingface_hub.errors.LocalEntryNotFoundError(filename)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    model = load_classifier("someone/roast-model", offline=True)
    assert (model.name, model.backend) == ("someone/roast-model", "onnx")
    assert model.first_crack_index == 1  # type: ignore[attr-defined]
