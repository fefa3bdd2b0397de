#!/usr/bin/env bash
# Quickstart 2: set up from nothing, then lint and run the whole test suite (what CI runs).
# Slow training/soak tests are excluded by default; run them with: scripts/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check agent models tests
exec .venv/bin/pytest -q -ra "$@"
