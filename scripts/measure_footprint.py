"""What the torch-free runtime (issue 11) changed: a "what | before | after" table.

    .venv/bin/python scripts/measure_footprint.py [--before REF] [--after REF] [--repeats N]

Both sides are measured in the same run, on the same machine, with the same virtual
environment: each REF is checked out into a temporary `git worktree` and run with this
interpreter and PYTHONPATH pointing at it (PYTHONPATH comes before the editable
install's finder), then the worktree is removed. `--before` defaults to the commit
before the first one that added models/inference/features.py; `--after` to HEAD.

Rows:

- peak RSS of `firstcrack run --source file:WAV --no-mqtt --quiet --model demo`
  (a 60 s simulated roast at full speed), through the real entry point, and whether
  it imported torch / transformers;
- the demo ONNX model's load time in a fresh process (import of models.inference.classifier
  plus `load_classifier("demo")`; median of --repeats);
- the load time of the full-size AST's int8 export, and the peak RSS of
  `firstcrack analyze WAV --model <that .onnx>`: the
  random-weight full-size AST that `firstcrack bench` builds and caches (the
  published checkpoint is not available offline; it has the same architecture);
- the size of .venv, and the part torch and transformers take.

Peak RSS is each child's own ru_maxrss from `os.wait4`. This script imports only the
standard library, so its own small RSS (which Linux carries into a vfork'd child's
ru_maxrss) is far below every figure. A command that fails is shown as failed, never
as a number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
MARK = "@@footprint@@"
RUNNER = f"""
import atexit, json, runpy, sys, time
spec = json.loads(sys.argv[1])
result = {{}}

def report():
    result["torch"] = "torch" in sys.modules
    result["transformers"] = "transformers" in sys.modules
    print({MARK!r} + json.dumps(result), file=sys.stderr, flush=True)

atexit.register(report)
if spec.get("load"):
    t0 = time.perf_counter()
    from firstcrack.models.inference.classifier import load_classifier
    load_classifier(spec["load"])
    result["load_s"] = time.perf_counter() - t0
else:
    sys.argv = ["firstcrack", *spec["argv"]]
    runpy.run_module("firstcrack.agent.cli", run_name="__main__", alter_sys=True)
"""
TORCH_PACKAGES = ("torch", "torchgen", "functorch", "transformers")
ONLY_FOR_TORCH = ("tokenizers", "safetensors", "accelerate", "sympy", "mpmath", "networkx")
"""Installed only because torch, transformers or training need them."""


def child(tree: Path, spec: dict, env: dict[str, str]) -> dict:
    """Run RUNNER in `tree`; its report plus rc and peak RSS (MB) from wait4."""
    cmd = [sys.executable, "-c", RUNNER, json.dumps(spec)]
    full_env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", **env}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=tree, env=full_env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    lines = [ln for ln in stderr.splitlines() if ln.startswith(MARK)]
    report = json.loads(lines[-1][len(MARK):]) if lines else {}
    report["rc"] = proc.returncode
    report["rss_mb"] = usage.ru_maxrss / 1024
    if proc.returncode != 0:
        report["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:200]
    return report


def side(tree: Path, wav: Path, full_int8: Path, repeats: int, state: Path) -> dict:
    """Every measurement on one checkout."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "agent"),
                    str(tree / "models")], check=True)
    env = {"FIRSTCRACK_STATE_DIR": str(state)}
    run_argv = ["run", "--source", f"file:{wav}", "--no-mqtt", "--quiet", "--model", "demo",
                "--speed", "0"]
    analyze_argv = ["analyze", str(wav), "--model", str(full_int8)]
    out: dict[str, list[dict]] = {k: [] for k in ("run", "load", "load_full", "analyze")}
    for _ in range(repeats):
        out["run"].append(child(tree, {"argv": run_argv}, env))
        out["load"].append(child(tree, {"load": "demo"}, env))
        out["load_full"].append(child(tree, {"load": str(full_int8)}, env))
    for _ in range(min(2, repeats)):
        out["analyze"].append(child(tree, {"argv": analyze_argv}, env))
    return out


def _median(reports: list[dict], key: str, unit: str, digits: int = 0) -> str:
    failed = [r for r in reports if r["rc"] != 0]
    if failed:
        return f"failed (rc {failed[0]['rc']}: {failed[0].get('error', '')})"
    value = statistics.median(r[key] for r in reports)
    return f"{value:,.{digits}f} {unit}"


def _imports(reports: list[dict]) -> str:
    r = reports[0]
    if "torch" not in r:
        return "unknown"
    yes = {True: "yes", False: "no"}
    return f"torch {yes[r['torch']]}, transformers {yes[r['transformers']]}"


def du_mb(paths: list[Path]) -> float:
    paths = [p for p in paths if p.exists()]
    if not paths:
        return 0.0
    done = subprocess.run(["du", "-sck", *map(str, paths)], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.strip().splitlines()[-1].split()[0]) / 1024


def venv_rows() -> list[tuple[str, str, str]]:
    site = next((VENV / "lib").glob("python3*/site-packages"))

    def group(names: tuple[str, ...]) -> list[Path]:
        return [p for n in names for p in site.glob(f"{n}*")
                if p.name == n or p.name.startswith((f"{n}-", f"{n}."))]

    total = du_mb([VENV])
    heavy = du_mb(group(TORCH_PACKAGES))
    extra = du_mb(group(ONLY_FOR_TORCH))
    same = "same .venv"
    return [
        (f"size of {VENV.name} (du)", f"{total:,.0f} MB", same),
        ("  of which torch + transformers", f"{heavy:,.0f} MB",
         "needed only by --backend torch, train, export"),
        (f"  of which {', '.join(ONLY_FOR_TORCH)}", f"{extra:,.0f} MB",
         "needed only by --backend torch, train, export"),
        (f"  {VENV.name} less both groups", "(torch needed)",
         f"{total - heavy - extra:,.0f} MB suffice for ONNX run/analyze/demo"),
    ]


def default_before() -> str:
    log = subprocess.run(["git", "log", "--format=%H", "--diff-filter=A", "--",
                          "models/inference/features.py"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    if not log:
        raise SystemExit("models/inference/features.py was never added: give --before REF")
    return f"{log[-1]}^"


def prepare_inputs(after: Path, work: Path, cache: Path) -> tuple[Path, Path]:
    """A 60 s simulated roast and the full-size AST's int8 export (built once, cached)."""
    code = (
        "import sys; from pathlib import Path\n"
        "from firstcrack.models.sim.simulator import write_roast\n"
        "from firstcrack.models.bench.variants import full_ast_dir\n"
        "write_roast(Path(sys.argv[1]), 7, duration_s=60.0)\n"
        "print(full_ast_dir(Path(sys.argv[2])))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(work / "roast.wav"), str(cache)],
                          cwd=after, env={**os.environ, "PYTHONPATH": str(after)},
                          capture_output=True, text=True, check=True)
    full = Path(done.stdout.strip().splitlines()[-1])
    return work / "roast.wav", full / "onnx" / "int8" / "model_quantized.onnx"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="commit before the change (default: see docstring)")
    parser.add_argument("--after", default="HEAD", help="commit after the change (HEAD)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "firstcrack" / "bench",
                        help="where the full-size AST is built and kept (bench's cache)")
    args = parser.parse_args()
    refs = {"before": args.before or default_before(), "after": args.after}
    results: dict[str, dict] = {}
    trees: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="fc-footprint-") as tmp:
        work = Path(tmp)
        try:
            for name, ref in refs.items():
                tree = work / f"fc-{name}"
                subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), ref],
                               cwd=ROOT, check=True)
                trees.append(tree)
            wav, full_int8 = prepare_inputs(trees[1], work, args.cache)
            for name, tree in zip(refs, trees, strict=True):
                print(f"measuring {name} ({refs[name]}) …", file=sys.stderr, flush=True)
                results[name] = side(tree, wav, full_int8, args.repeats, work / f"state-{name}")
        finally:
            for tree in trees:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                               check=False)
    b, a = results["before"], results["after"]
    rows = [
        ("peak RSS, `run --model demo` (file source, --no-mqtt)",
         _median(b["run"], "rss_mb", "MB"), _median(a["run"], "rss_mb", "MB")),
        ("  imported by that run", _imports(b["run"]), _imports(a["run"])),
        ("demo ONNX model load (fresh process: import + load_classifier)",
         _median(b["load"], "load_s", "s", 2), _median(a["load"], "load_s", "s", 2)),
        ("full-size AST int8 ONNX load (fresh process: import + load_classifier)",
         _median(b["load_full"], "load_s", "s", 2), _median(a["load_full"], "load_s", "s", 2)),
        ("peak RSS, `analyze` with the full-size AST int8 ONNX",
         _median(b["analyze"], "rss_mb", "MB"), _median(a["analyze"], "rss_mb", "MB")),
        ("  imported by that analyze", _imports(b["analyze"]), _imports(a["analyze"])),
        *venv_rows(),
    ]
    print(f"before = {refs['before']}, after = {refs['after']}, {args.repeats} runs "
          f"(medians), python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| what | before | after |\n|---|---:|---:|")
    for what, before, after in rows:
        print(f"| {what} | {before} | {after} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
