"""`firstcrack run` in a child process, for the tests that drive the whole agent."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 120.0


class AgentProcess:
    """`firstcrack run` in a child process; its JSON lines are collected as they come."""

    def __init__(self, port: int, state_dir: Path, *args: str, env: dict[str, str] | None = None):
        full_env = dict(os.environ)
        full_env.update(
            {
                "FIRSTCRACK_MQTT__PORT": str(port),
                "FIRSTCRACK_MQTT__HOST": "127.0.0.1",
                "FIRSTCRACK_STATE_DIR": str(state_dir),
                "FIRSTCRACK_MQTT__RECONNECT_MIN_S": "0.2",
                "FIRSTCRACK_MQTT__RECONNECT_MAX_S": "1.0",
                "FIRSTCRACK_MODEL": "demo",
                "FIRSTCRACK_DASHBOARD__PORT": "0",  # any free port: agents never clash
                **(env or {}),
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firstcrack.agent.cli", "run", *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.log_lines: list[str] = []  # stderr, drained as it comes so the agent never blocks
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line)

    def wait_line(self, predicate: Any, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(item)
            if predicate(item):
                return item
        raise AssertionError(f"agent never printed the expected line; stderr: {self.stderr()}")

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        code = self.proc.wait(timeout=timeout)
        return code

    def stderr(self) -> str:
        """The last 3000 characters the agent logged (so far, if it still runs)."""
        return "".join(self.log_lines)[-3000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
