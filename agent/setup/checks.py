"""What a doctor check returns, the timeout around each, and how results print.

Every check is a small function returning one `CheckResult`; `bounded` runs it
on a daemon thread and gives up after its timeout, so `doctor` never hangs on
a broker that accepts TCP and never answers, a device stuck in its driver or
a model download that stalls. A check that overruns is a FAIL saying so; its
thread is abandoned (it is a daemon and the process ends soon after). A check
that raises is a FAIL with the exception, never a traceback.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class Status(enum.Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class CheckResult:
    """One line of `doctor`: what was checked, how it went, and how to fix a failure.

    name: short, stable (`config`, `model`, `microphone (roaster2)`).
    detail: what was found, with the figures (times, levels, counts).
    fix: what to do about a FAIL or WARN; empty otherwise.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def warned(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


def bounded(name: str, timeout_s: float, check: Callable[[], CheckResult]) -> CheckResult:
    """`check()` with a time limit: its result, or a FAIL when it raises or overruns."""
    outcome: list[CheckResult] = []

    def target() -> None:
        try:
            outcome.append(check())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line
            outcome.append(
                failed(name, f"the check itself failed: {type(exc).__name__}: {exc}",
                       "run `firstcrack --debug doctor` and report the error")  # fmt: skip
            )

    thread = threading.Thread(target=target, name=f"firstcrack-doctor-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if outcome:
        return outcome[0]
    return failed(
        name,
        f"did not finish within {timeout_s:.0f} s",
        "see the fixes above for anything it depends on; run `firstcrack --debug doctor` "
        "to see where it waits",
    )


def format_result(result: CheckResult) -> str:
    """`PASS  model: ...`, with an indented `fix:` line for a FAIL or WARN."""
    line = f"{result.status.value}  {result.name}: {result.detail}"
    if result.fix and result.status in (Status.FAIL, Status.WARN):
        line += f"\n      fix: {result.fix}"
    return line


def exit_code(results: Sequence[CheckResult]) -> int:
    """1 when any check failed; WARN and SKIP do not fail the run."""
    return 1 if any(r.status is Status.FAIL for r in results) else 0


def tally(results: Sequence[CheckResult]) -> str:
    """`5 passed, 1 warning, 1 failed, 1 skipped` (zero counts left out)."""
    names = {Status.PASS: "passed", Status.WARN: "warning", Status.FAIL: "failed",
             Status.SKIP: "skipped"}  # fmt: skip
    parts = []
    for status, word in names.items():
        n = sum(r.status is status for r in results)
        if n:
            parts.append(f"{n} {word}{'s' if status is Status.WARN and n > 1 else ''}")
    return ", ".join(parts)
