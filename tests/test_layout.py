"""The layout's promises: one namespace, a pure core, and one-way dependencies.

The layers, bottom to top (docs/ARCHITECTURE.md, "Layout"):

1. `models/contracts.py`: the facts both sides share; imports nothing of ours.
2. `models/inference`, `models/sim`: what scores audio, and the roast simulator. Each
   imports only the contracts, `models/extras.py` and itself.
3. The agent's runtime (`agent/` but `cli`): `core` is pure; the edges (sources, mqtt,
   artisan, recording) never import each other's neighbours above them. The runtime
   never imports the offline lifecycle (datasets, training, tune, evaluation, bench),
   and imports the simulator only inside a function (`run --source sim`, `demo`).
4. The offline lifecycle, in this order: `datasets` < `evaluation` < `training` <
   `tune` < `bench`. Each may use the runtime's live path to score, as the roaster
   would, and anything below it; nothing below imports it.
5. `agent/cli`: the command table names command modules by string; it imports none.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import firstcrack.agent.core

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("paho", "sounddevice", "soundfile", "torch", "transformers", "onnxruntime",
         "websockets", "amqtt", "matplotlib", "psutil", "pydantic", "yaml", "scipy")
OURS = "firstcrack."
LIFECYCLE = ("datasets", "evaluation", "training", "tune", "bench")
"""The offline packages under models/, bottom to top."""
LINE_WARNING = 330
"""A module longer than this gets a warning (not a failure): split it where it is cohesive."""


def _py_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Our modules that `path` imports (`from X import y` also counts X.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith(OURS)}


def _broken(folder: str, allowed: tuple[str, ...], top_level_only: bool = False) -> list[str]:
    """Imports from `folder` of our modules outside the `allowed` prefixes."""
    out = []
    for path in _py_files(folder) if (ROOT / folder).is_dir() else [ROOT / folder]:
        for module in sorted(_imports(path, top_level_only)):
            if not any(module == a or module.startswith(a + ".") for a in allowed):
                out.append(f"{path.relative_to(ROOT)} imports {module}")
    return out


def _p(*names: str) -> tuple[str, ...]:
    return tuple(OURS + n for n in names)


def test_no_generic_top_level_package_is_importable_from_an_install() -> None:
    """pyproject maps agent/ and models/ under `firstcrack`, and names every package."""
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"firstcrack.agent": "agent", "firstcrack.models": "models"}
    folders = {
        "firstcrack." + str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top in ("agent", "models") for p in (ROOT / top).rglob("__init__.py")
    }
    assert set(tool["packages"]) == folders
    assert all(name.startswith("firstcrack.") for name in tool["packages"])


def test_no_module_imports_the_old_top_level_names() -> None:
    """Nothing imports `agent…` or `models…` without the namespace (they are not installed)."""
    old = []
    for folder in ("agent", "models", "tests", "scripts"):
        for path in _py_files(folder):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                old += [f"{path.relative_to(ROOT)}: {n}" for n in names
                        if n.split(".")[0] in ("agent", "models")]
    assert not old, old


def test_the_core_imports_no_io_and_no_model_framework() -> None:
    """Importing every module of agent.core pulls in no MQTT, audio, model or config library."""
    names = [f"firstcrack.agent.core.{m.name}"
             for m in pkgutil.iter_modules(firstcrack.agent.core.__path__)]
    assert len(names) >= 10
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    ours = {m for m in loaded if m.startswith("firstcrack.models.")}
    assert ours <= {"firstcrack.models.contracts"}, sorted(ours)


def test_contracts_inference_and_sim_stand_alone() -> None:
    broken = _broken("models/contracts.py", ())
    broken += _broken("models/extras.py", _p("models.contracts"))
    base = _p("models.contracts", "models.extras")
    broken += _broken("models/inference", base + _p("models.inference"))
    broken += _broken("models/sim", base + _p("models.sim"))
    assert not broken, broken


def test_the_runtime_layers_depend_one_way() -> None:
    """core <- edges (sources, mqtt, artisan, recording) <- live, offline, setup, demo."""
    contracts = _p("models.contracts", "models.extras")
    runtime = _p("agent.core", "agent.config", "models.inference") + contracts
    rules = {
        "agent/core": _p("agent.core", "models.contracts"),
        "agent/config": _p("agent.config", "agent.core", "models.inference") + contracts,
        "agent/sources": runtime + _p("agent.sources", "models.sim"),
        "agent/mqtt": runtime + _p("agent.mqtt"),
        "agent/artisan": runtime + _p("agent.artisan"),
        "agent/recording": _p("agent.core", "agent.config", "agent.recording") + contracts,
    }
    broken = [b for folder, allowed in rules.items() for b in _broken(folder, allowed)]
    edges = _p("agent.sources", "agent.mqtt", "agent.artisan", "agent.recording")
    broken += _broken("agent/dashboard", runtime + _p("agent.dashboard"))
    edges += _p("agent.dashboard")
    broken += _broken("agent/live", runtime + edges + _p("agent.live"))
    above = runtime + edges + _p("agent.live", "models.sim")
    broken += _broken("agent/offline", above + _p("agent.offline"))
    broken += _broken("agent/setup", above + _p("agent.setup", "agent.demo"))
    broken += _broken("agent/demo", above + _p("agent.demo"))
    assert not broken, broken


def test_the_runtime_never_imports_the_lifecycle_and_the_simulator_only_lazily() -> None:
    broken = []
    for folder in ("agent/core", "agent/config", "agent/sources", "agent/mqtt",
                   "agent/artisan", "agent/recording", "agent/dashboard", "agent/live",
                   "agent/offline",
                   "agent/setup", "agent/demo", "agent/cli"):
        lifecycle = _p(*(f"models.{p}" for p in LIFECYCLE))
        for path in _py_files(folder):
            broken += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path)
                       if m.startswith(lifecycle)]
            broken += [f"{path.relative_to(ROOT)} imports {m} at module level"
                       for m in _imports(path, top_level_only=True)
                       if m.startswith(OURS + "models.sim")]
    assert not broken, broken


def test_the_lifecycle_depends_one_way() -> None:
    """datasets < evaluation < training < tune < bench: none imports one above it."""
    broken = []
    for i, package in enumerate(LIFECYCLE):
        above = _p(*(f"models.{p}" for p in LIFECYCLE[i + 1:]))
        for path in _py_files(f"models/{package}"):
            broken += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path)
                       if m.startswith(above)]
        broken += [b for b in _broken(f"models/{package}", _p("models", "agent"))
                   if OURS + "agent.cli" in b]
    assert not broken, broken


def test_long_modules_are_a_warning_not_a_rule() -> None:
    """Split by cohesion, not by count: a long module is reported, and the suite goes on."""
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("agent", "models") for p in _py_files(folder)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LINE_WARNING
    }
    if long:
        warnings.warn(f"modules over {LINE_WARNING} lines: {long}", stacklevel=1)
    assert all(n < 3 * LINE_WARNING for n in long.values()), long
