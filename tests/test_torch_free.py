"""The ONNX runtime path imports neither torch nor transformers (issue 11).

Every check runs in a fresh interpreter, since this test process has long imported
both. A small runner executes the code (or the `firstcrack` entry point) and, at
exit, prints the top-level modules it ended with; the test asserts that torch and
transformers are not among them although both are installed here. With `block`, the
runner also makes both look uninstalled (the path finder no longer finds them, so
`import` and `importlib.util.find_spec` see what they see for an absent package), proving the
runtime install works without them and that the torch paths name the missing extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firstcrack.models.inference.classifier import AST_DEMO_MODEL_DIR

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers")
MARK = "@@torch-free-modules@@"
RUNNER = f"""
import atexit, json, runpy, sys
from importlib.machinery import PathFinder
block, argv, code = json.loads(sys.argv[1])

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            return None
        return PathFinder.find_spec(name, path, target)

    def invalidate_caches(self):
        PathFinder.invalidate_caches()

    def find_distributions(self, *args, **kwargs):
        return PathFinder.find_distributions(*args, **kwargs)

if block:
    sys.meta_path[:] = [Hide() if f is PathFinder else f for f in sys.meta_path]

def report():
    loaded = sorted({{m.split(".")[0] for m, v in list(sys.modules.items()) if v is not None}})
    print({MARK!r} + json.dumps(loaded), file=sys.stderr, flush=True)

atexit.register(report)
if code:
    exec(code)
else:
    sys.argv = argv
    runpy.run_module("firstcrack.agent.cli", run_name="__main__", alter_sys=True)
"""
def run_isolated(
    *,
    argv: list[str] | None = None,
    code: str = "",
    block: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `code` or the CLI with `argv` in a fresh interpreter; its modules at exit."""
    payload = json.dumps([block, ["firstcrack", *(argv or [])], code])
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, payload],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith(MARK)]
    assert lines, f"no module report (rc {done.returncode}):\n{done.stderr[-3000:]}"
    return done, set(json.loads(lines[-1][len(MARK):]))


def assert_torch_free(done: subprocess.CompletedProcess[str], modules: set[str]) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.fixture(scope="module")
def roast_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40 s simulated roast with a first crack (16 kHz mono WAV)."""
    from firstcrack.models.sim.simulator import write_roast

    wav, _ = write_roast(tmp_path_factory.mktemp("roast") / "roast.wav", seed=5, duration_s=40.0)
    return wav


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF hub cache holding `someone/roast-model` the way the published checkpoint is
    laid out: config.json at the root, the int8 export and its preprocessor config under
    onnx/int8 (the demo model's files stand in for it)."""
    cache = tmp_path_factory.mktemp("hf_cache")
    repo = cache / "models--someone--roast-model"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    (snapshot / "onnx/int8").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(commit)
    shutil.copy(AST_DEMO_MODEL_DIR / "config.json", snapshot / "config.json")
    for name in ("model_quantized.onnx", "preprocessor_config.json"):
        shutil.copy(AST_DEMO_MODEL_DIR / "onnx/int8" / name, snapshot / "onnx/int8" / name)
    return cache


LOCAL_REFS = ["demo", "models/ast-demo/onnx", "models/ast-demo/onnx/int8/model_quantized.onnx"]
"""The shipped demo model, an exported directory and a lone .onnx file (with its
preprocessor_config.json beside it)."""
LOAD_REFS = """
import numpy as np
from firstcrack.models.inference.classifier import load_classifier
window = np.random.default_rng(0).normal(0, 0.05, 160_000).astype(np.float32)
refs = REFS
for ref in refs:
    model = load_classifier(ref)
    p = model.predict(window[None])
    assert model.backend == "onnx" and p.shape == (1,) and 0 <= p[0] <= 1, (ref, p)
print("loaded", len(refs))
"""


@pytest.mark.parametrize("block", [False, True], ids=["installed", "absent"])
def test_onnx_references_load_and_predict_without_torch(hub_cache: Path, block: bool) -> None:
    """demo, an exported directory, an .onnx file and the hub's cached int8 file."""
    refs = [*LOCAL_REFS, "someone/roast-model"]
    done, modules = run_isolated(code=LOAD_REFS.replace("REFS", repr(refs)), block=block,
                                 env={"HF_HUB_CACHE": str(hub_cache)})
    assert_torch_free(done, modules)
    assert "loaded 4" in done.stdout
    if not block:
        assert "huggingface_hub" in modules  # the hub id, and only it, needs the hub client


def test_demo_model_alone_does_not_import_the_hub_client() -> None:
    done, modules = run_isolated(code=LOAD_REFS.replace("REFS", repr(LOCAL_REFS)))
    assert_torch_free(done, modules)
    assert "loaded 3" in done.stdout
    assert "huggingface_hub" not in modules


def test_torch_paths_name_the_missing_extra() -> None:
    """Without torch, the torch backend and export raise MissingExtraError naming the extra."""
    code = """
from firstcrack.models.extras import MissingExtraError
from firstcrack.models.inference.classifier import load_classifier
from firstcrack.models.training.export import ExportError, export_onnx
for call, extra in ((lambda: load_classifier("ast-demo", backend="torch"), "[torch]"),
                    (lambda: export_onnx("models/ast-demo", "/nonexistent/out"), "[train]")):
    try:
        call()
    except MissingExtraError as exc:
        assert extra in str(exc) and "pip install" in str(exc), exc
        print("named", extra)
    else:
        raise AssertionError(extra)
"""
    done, modules = run_isolated(code=code, block=True)
    assert_torch_free(done, modules)
    assert done.stdout.split() == ["named", "[torch]", "named", "[train]"]


@pytest.mark.parametrize("block", [False, True], ids=["installed", "absent"])
def test_cli_analyze_and_run_with_demo_import_neither(
    roast_wav: Path, tmp_path: Path, block: bool
) -> None:
    """`firstcrack analyze` and `run --source file:` through the real entry point
    (`python -m firstcrack.agent.cli`, the parser with every command registered)."""
    env = {"FIRSTCRACK_STATE_DIR": str(tmp_path / "state")}
    done, modules = run_isolated(argv=["analyze", str(roast_wav), "--model", "demo"],
                                 block=block, env=env)
    assert_torch_free(done, modules)
    assert str(roast_wav) in done.stdout
    done, modules = run_isolated(
        argv=["run", "--source", f"file:{roast_wav}", "--no-mqtt", "--quiet", "--model", "demo",
              "--speed", "0"],
        block=block, env=env)
    assert_torch_free(done, modules)


def test_cli_demo_imports_neither() -> None:
    """`firstcrack demo` (in-process broker, demo model) on a 60 s simulated roast at 20x.

    Whether the demo model hears this short roast's first crack (exit 0 or 1) is not
    what is tested here; that it ran to its summary on the ONNX backend is.
    """
    code = """
import runpy, sys
import firstcrack.agent.sources
full = firstcrack.agent.sources.SimSource
firstcrack.agent.sources.SimSource = lambda seed, speed: full(seed, speed=speed, duration_s=60.0)
sys.argv = ["firstcrack", "demo", "--speed", "20", "--port", "0"]
runpy.run_module("firstcrack.agent.cli", run_name="__main__", alter_sys=True)
"""
    done, modules = run_isolated(code=code)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "model: demo (onnx)" in done.stdout and "summary" in done.stdout, done.stdout
    assert "dashboard: http://127.0.0.1:" in done.stdout  # served while the roast runs
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
