"""Install by role (README, "Installing"): the base install is the runtime agent, extras add
the rest, and a command that needs a missing extra exits 2 naming the extra to install.

Missing packages are simulated in a fresh interpreter by hiding them from the import
system (HIDE below), or in process with `sys.modules[name] = None`; either way `import
name` fails and `importlib.util.find_spec(name)` is None, as when it is not installed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from firstcrack.models.extras import EXTRAS, MissingExtraError

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Every module that only an extra provides: what a base install lacks.
EXTRA_ONLY = sorted({m for modules, _ in EXTRAS.values() for m in modules})

# The runtime agent's own packages: their module-level imports must all be in the base.
RUNTIME_PACKAGES = ("agent/core", "agent/live", "agent/sources", "agent/mqtt", "agent/artisan",
                    "agent/config", "agent/cli", "agent/offline", "agent/recording",
                    "agent/setup")

# Hides packages as if they were not installed: `import torch` raises ModuleNotFoundError and
# importlib.util.find_spec("torch") is None. (`sys.modules[name] = None` would do for most,
# but scipy probes sys.modules for torch and trips over a None there.)
HIDE = """
import sys

class _Hidden:
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            return None
        return self.inner.find_spec(name, path, target)
    def __getattr__(self, attr):
        return getattr(self.inner, attr)

sys.meta_path[:] = [_Hidden(finder) for finder in sys.meta_path]
"""

RUNNER = HIDE + """
from firstcrack.agent.cli import main
sys.exit(main({argv!r}))
"""


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements}


def _cli(argv: list[str], blocked: list[str], cwd: Path = ROOT,
         timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`firstcrack ARGV` in a fresh interpreter where the `blocked` modules are not installed."""
    code = RUNNER.format(blocked=blocked, argv=argv)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


# --- the declared dependencies --------------------------------------------------------------


def test_base_install_is_the_runtime_without_torch() -> None:
    base = _names(PYPROJECT["dependencies"])
    for runtime in ("onnxruntime", "numpy", "scipy", "soundfile", "sounddevice", "paho-mqtt",
                    "tenacity", "pydantic", "pyyaml", "websockets", "huggingface-hub"):
        assert runtime in base
    heavy = {"torch", "transformers", "accelerate", "onnx", "onnxscript", "amqtt",
             "matplotlib", "psutil"}
    assert not base & heavy


def test_extras_table_matches_pyproject() -> None:
    """models/extras.py (what `require` checks) and pyproject's extras say the same thing."""
    optional = {extra: _names(reqs) for extra, reqs in PYPROJECT["optional-dependencies"].items()}
    for extra, (modules, _purpose) in EXTRAS.items():
        assert extra in optional, f"[{extra}] is in models/extras.py but not in pyproject.toml"
        for module in modules:  # every module here is named like its distribution
            assert _name(module) in optional[extra], f"[{extra}] does not install {module}"
    assert set(optional) - set(EXTRAS) == {"dev", "all"}
    assert "dev" in optional and {"pytest", "pytest-timeout", "ruff"} <= optional["dev"]


def test_all_extra_is_every_extra() -> None:
    [everything] = PYPROJECT["optional-dependencies"]["all"]
    listed = re.fullmatch(r"firstcrack-agent\[([a-z,]+)\]", everything)
    assert listed, everything
    assert set(listed.group(1).split(",")) == set(PYPROJECT["optional-dependencies"]) - {"all"}


def test_torch_is_pinned_exactly_wherever_it_is_required() -> None:
    """A looser range lets pip resolve a multi-GB CUDA build."""
    for extra, reqs in PYPROJECT["optional-dependencies"].items():
        for req in reqs:
            if _name(req) == "torch":
                assert req.replace(" ", "") == "torch==2.13.0", (extra, req)


def _module_level(statements: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run on import: into try/with/if blocks, not functions, classes or
    `if TYPE_CHECKING:`."""
    out: list[ast.stmt] = []
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out += _module_level(node.orelse)
            continue
        out.append(node)
        for field in ("body", "orelse", "finalbody"):
            out += _module_level(getattr(node, field, []) or [])
        for handler in getattr(node, "handlers", []) or []:
            out += _module_level(handler.body)
    return out


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    """Top-level names of the modules `path` imports (relative imports excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = _module_level(tree.body) if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in
            {"firstcrack", "__future__"}}


def _distribution(module: str) -> str:
    dists = importlib.metadata.packages_distributions().get(module)
    assert dists, f"{module} is imported but no installed distribution provides it"
    return _name(dists[0])


def test_every_import_is_declared_in_the_base_or_an_extra() -> None:
    declared = _names(PYPROJECT["dependencies"])
    for reqs in PYPROJECT["optional-dependencies"].values():
        declared |= _names(reqs)
    undeclared = {}
    for path in sorted([*ROOT.glob("agent/**/*.py"), *ROOT.glob("models/**/*.py")]):
        for module in _third_party(_imports(path)):
            if _distribution(module) not in declared:
                undeclared.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"


def test_runtime_packages_import_only_the_base_at_module_level() -> None:
    """agent/core, live, sources, mqtt, artisan, config and cli load on a base install."""
    base = _names(PYPROJECT["dependencies"])
    offending = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            for module in _third_party(_imports(path, module_level_only=True)):
                if _distribution(module) not in base:
                    offending.setdefault(str(path.relative_to(ROOT)), []).append(module)
    assert not offending, f"runtime modules importing an extra at module level: {offending}"


# --- a missing extra is a user error that names it ------------------------------------------


def test_demo_without_amqtt_exits_2_naming_the_extra() -> None:
    done = _cli(["demo", "--speed", "0"], blocked=["amqtt"])
    assert done.returncode == 2, done.stderr
    assert "pip install 'firstcrack-agent[demo]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()[-1]) < 300


def test_demo_with_an_external_broker_does_not_need_amqtt() -> None:
    """`demo --broker` uses a broker that is already there; the broker module is not loaded."""
    from firstcrack.agent.demo import run_demo

    source = Path(run_demo.__file__).read_text()
    assert "from firstcrack.agent.demo.demo_broker import" not in source.split("def main", 1)[0]


def test_plots_without_matplotlib_name_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    from firstcrack.agent.offline.analyze_plot import plot_analysis
    from firstcrack.models.evaluation.rule_sweep import plot_tradeoff

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'firstcrack-agent[plots]'")):
        plot_analysis(None, tmp_path / "a.png")  # type: ignore[arg-type]
    with pytest.raises(MissingExtraError, match=r"evaluate --sweep.*\[plots\]"):
        plot_tradeoff({}, tmp_path / "s.png")
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("module, blocked, extra", [
    ("firstcrack.models.bench.multi", "psutil", "bench"),
    ("firstcrack.agent.demo.demo_broker", "amqtt", "demo"),
])
def test_tool_modules_check_their_extra_before_importing_it(
    monkeypatch: pytest.MonkeyPatch, module: str, blocked: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(MissingExtraError, match=re.escape(f"firstcrack-agent[{extra}]")):
        importlib.import_module(module)
    monkeypatch.delitem(sys.modules, module, raising=False)  # not left half-imported


def test_missing_extra_is_a_user_error_even_without_torch(tmp_path: Path) -> None:
    """`train` without the [train] extra: its parser needs no torch, and the missing extra
    is a `UserError` (exit 2, one line naming the extra)."""
    done = _cli(["train", "--out", str(tmp_path / "m"), "--simulate", "1,1"],
                blocked=EXTRA_ONLY, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'firstcrack-agent[train]'" in done.stderr
    assert "Traceback" not in done.stderr


# --- the base install runs the agent ---------------------------------------------------------


@pytest.fixture(scope="module")
def torch_free_cli() -> None:
    """Skip while the CLI cannot start without the extras (the torch-free ONNX path work)."""
    done = _cli(["--help"], blocked=EXTRA_ONLY, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"the CLI does not start on a base install yet: {last}")


def test_base_install_cli_reports_user_errors(torch_free_cli: None, tmp_path: Path) -> None:
    done = _cli(["run", "--config", str(tmp_path / "missing.yaml"), "--no-mqtt"],
                blocked=EXTRA_ONLY)
    assert done.returncode == 2, done.stderr
    assert "missing.yaml" in done.stderr and "Traceback" not in done.stderr


def test_base_install_runs_the_agent_on_onnx(torch_free_cli: None) -> None:
    """`run --model demo` on a simulated roast with every extra absent: ONNX only."""
    done = _cli(["run", "--model", "demo", "--source", "sim:1:60", "--speed", "0", "--no-mqtt",
                 "--quiet"], blocked=EXTRA_ONLY)
    assert done.returncode == 0, done.stderr


# --- the container image ----------------------------------------------------------------------


def test_docker_image_is_the_runtime_install_as_a_non_root_user() -> None:
    """No torch in the image, an unprivileged user in `audio`, writable volume directories."""
    import yaml

    docker = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in docker.splitlines() if not line.strip().startswith("#")]
    code = "\n".join(lines)
    assert "torch" not in code
    assert re.search(r'pip install --no-cache-dir "\.\$\{EXTRAS:\+\[\$EXTRAS\]\}"', code)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["firstcrack"]
    assert re.search(r"useradd .*--groups audio", code.replace("\\\n", " "))
    assert lines.index("USER firstcrack") > max(i for i, line in enumerate(lines)
                                                 if line.startswith("RUN "))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["agent"]
    assert "audio" in compose["group_add"]
    volumes = [v.split(":")[1] for v in compose["volumes"] if not v.startswith(".")]
    env = dict(line.split("=", 1) for line in re.findall(r"(\w+=\S+)", code))
    assert set(volumes) == {"/var/lib/firstcrack", "/var/cache/firstcrack"}
    assert env["FIRSTCRACK_STATE_DIR"] == "/var/lib/firstcrack"
    assert env["HF_HOME"].startswith("/var/cache/firstcrack/")
    assert env["ORT_DISABLE_TELEMETRY"] == "1"
    created = re.search(r"install -d -o firstcrack -g firstcrack -m 0750 (.+)", code)
    assert created and set(created.group(1).split()) == set(volumes)


def test_an_install_puts_only_the_firstcrack_namespace_in_site_packages(tmp_path: Path) -> None:
    """`pip install .` (no deps, no network): one top-level package, with the shipped models.

    Built from a copy of the source, so no build/ left by an earlier build can leak in."""
    import shutil

    source, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "runs", "build", "*.egg-info", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True, timeout=240)
    top = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert top <= {"firstcrack", "bin"}, top
    installed = target / "firstcrack"
    assert not (installed / "__init__.py").exists()  # a namespace: room for nothing else
    for shipped in ("models/demo/ear.json", "models/pretrained/mn04/mn04_backbone.onnx",
                    "models/ast-demo/detection_profile.json", "models/data/popcorn/pops_16k.npz",
                    "agent/cli/table.py", "models/contracts.py"):
        assert (installed / shipped).is_file(), shipped
