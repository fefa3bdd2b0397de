"""Runtime settings persisted across restarts (README, "MQTT": accepted `/set` values).

One small JSON file, `state_dir/settings.json`, replaced atomically (temp file,
fsync, `os.replace`) so a crash mid-write leaves either the old or the new
file, never half of one. A corrupt or unreadable file is logged and ignored:
losing a remembered threshold is better than an agent that will not start.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("firstcrack.persist")

SETTINGS_FILE = "settings.json"


class SettingsStore:
    """Load and save the accepted runtime settings as a flat JSON object."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / SETTINGS_FILE

    def load(self) -> dict[str, Any]:
        """The saved values, or `{}` when there are none or the file is unusable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable settings file %s: %s", self.path, exc)
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            log.warning("ignoring corrupt settings file %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            log.warning("ignoring settings file %s: top level is not an object", self.path)
            return {}
        return data

    def save(self, values: dict[str, Any]) -> None:
        """Atomically replace the file with `values` (JSON-serialisable, finite numbers)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(values, sort_keys=True, indent=2, allow_nan=False)
        fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        except OSError:
            pass
        finally:
            os.close(dir_fd)
