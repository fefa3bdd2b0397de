#!/usr/bin/env bash
# Quickstart 1: set up from nothing, then run the demo (simulated roast, demo model, in-process broker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/firstcrack demo "$@"
