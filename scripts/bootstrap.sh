#!/usr/bin/env bash
# Idempotent setup from nothing: system packages, a venv, and the project with all extras.
# Used by `make demo`, `make test` and `.ci/run`.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium + chromium-driver: the dashboard's browser test (tests/test_dashboard_browser.py).
APT_PACKAGES=(mosquitto libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins
              chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system-wide broker on :1883; the tests and the
# demo start their own, so a running service is harmless but not needed.

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
  .venv/bin/pip install -q "torch==2.13.0"
  # Every extra (torch, train, demo, plots, bench, dev): the quickstart runs the demo and the
  # whole test suite. A roaster machine needs only the base install (README, "Installing").
  .venv/bin/pip install -q -e ".[all]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
