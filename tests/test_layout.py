"""The layout's promises: a pure core, and one-way dependencies between the layers."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import agent.core

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("paho", "sounddevice", "soundfile", "torch", "transformers", "onnxruntime",
         "websockets", "amqtt", "matplotlib", "psutil", "pydantic", "yaml")


def test_the_core_imports_no_io_and_no_model_framework() -> None:
    """Importing every module of agent.core pulls in no MQTT, audio, model or config library."""
    names = [f"agent.core.{m.name}" for m in pkgutil.iter_modules(agent.core.__path__)]
    assert len(names) >= 10
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m == "models"}, "the core must not need the model package"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_layers_depend_one_way() -> None:
    """core <- edges (sources, mqtt, artisan, recording) <- live, setup <- tools/cli; models
    never imports agent."""
    rules = {
        "agent/core": ("agent.sources", "agent.mqtt", "agent.artisan", "agent.live",
                       "agent.tools", "agent.cli", "agent.config", "agent.recording",
                       "models"),
        "agent/sources": ("agent.mqtt", "agent.artisan", "agent.live", "agent.tools",
                          "agent.cli", "agent.recording"),
        "agent/mqtt": ("agent.sources", "agent.artisan", "agent.live", "agent.tools",
                       "agent.cli", "agent.recording"),
        "agent/artisan": ("agent.sources", "agent.mqtt", "agent.live", "agent.tools",
                          "agent.cli", "agent.recording"),
        "agent/recording": ("agent.sources", "agent.mqtt", "agent.artisan", "agent.live",
                            "agent.setup", "agent.tools", "agent.cli", "models"),
        "agent/live": ("agent.tools", "agent.cli"),
        "agent/setup": ("agent.live", "agent.tools", "agent.cli"),
        "models": ("agent",),
    }
    broken = []
    for folder, forbidden in rules.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imports(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    broken.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not broken, broken


def test_no_module_is_much_over_300_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "agent").rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 330
    }
    assert not long, long
