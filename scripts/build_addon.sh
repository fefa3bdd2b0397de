#!/usr/bin/env bash
# Put this checkout's source beside the add-on (ha-addon/firstcrack/firstcrack-src), so
# that Home Assistant builds the add-on from it: copy ha-addon/firstcrack to the /addons
# folder of your Home Assistant box (Samba or SSH add-on), then Add-on store > ⋮ > Check
# for updates, and install "firstcrack" under "Local add-ons" (README, "Home Assistant add-on").
set -euo pipefail
cd "$(dirname "$0")/.."
dest=ha-addon/firstcrack/firstcrack-src
rm -rf "$dest"
mkdir -p "$dest"
cp -r pyproject.toml README.md NOTICE agent models config "$dest"/
find "$dest" -name __pycache__ -prune -exec rm -rf {} +
echo "wrote $dest; copy ha-addon/firstcrack to /addons on your Home Assistant box"
