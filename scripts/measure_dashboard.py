"""What the dashboard's browsers cost the agent: CPU with 0 and with 20 live clients.

    .venv/bin/python scripts/measure_dashboard.py [--clients 20] [--repeats 3]

Each run is `firstcrack run --no-mqtt --quiet` on the same simulated roast at 10x, with
the dashboard on; N clients (plain HTTP, as many browser tabs would) read its event
stream for the whole roast. The agent's process CPU (user + system, from the child's
rusage) is compared between 0 and N clients, runs interleaved. At 10x the messages come
10x as often as live, so the overhead per roast second is a 10x upper bound of live; the
report gives it per roast second, the share of one core a live roast would see.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED, DURATION, SPEED = 30011, 300.0, 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reader(port: int, counts: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/stream")
            reply = conn.getresponse()
            while not stop.is_set() and (line := reply.readline()):
                counts[0] += line.startswith(b"event:")
        except OSError:
            time.sleep(0.2)


def one_run(clients: int, state: Path) -> tuple[float, int]:
    port = free_port()
    env = dict(os.environ, FIRSTCRACK_MODEL="demo", FIRSTCRACK_STATE_DIR=str(state),
               FIRSTCRACK_DASHBOARD__PORT=str(port))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([sys.executable, "-m", "firstcrack.agent.cli", "run", "--no-mqtt",
                             "--quiet", "--source", f"sim:{SEED}:{DURATION:g}", "--speed",
                             f"{SPEED:g}"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    stop, counts = threading.Event(), [0]
    threads = [threading.Thread(target=reader, args=(port, counts, stop), daemon=True)
               for _ in range(clients)]
    for t in threads:
        t.start()
    proc.wait()
    stop.set()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, counts[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    state = Path(os.environ.get("TMPDIR", "/tmp")) / "firstcrack-measure-dashboard"
    runs: dict[int, list[float]] = {0: [], args.clients: []}
    received = 0
    for _ in range(args.repeats):
        for n in (0, args.clients):
            cpu, got = one_run(n, state)
            runs[n].append(cpu)
            received = max(received, got)
    base, loaded = min(runs[0]), min(runs[args.clients])
    extra = loaded - base
    print(json.dumps({
        "roast_s": DURATION, "speed": SPEED, "clients": args.clients,
        "cpu_s_no_clients": [round(c, 2) for c in runs[0]],
        "cpu_s_with_clients": [round(c, 2) for c in runs[args.clients]],
        "extra_cpu_s_min_vs_min": round(extra, 3),
        "extra_share_of_one_core_at_10x": round(extra / (DURATION / SPEED), 4),
        "extra_share_of_one_core_live_upper_bound": round(extra / DURATION, 5),
        "events_received_by_all_clients": received,
    }, indent=1))


if __name__ == "__main__":
    main()
