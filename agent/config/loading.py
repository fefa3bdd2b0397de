"""Loading the configuration: file < environment < overrides, one `ConfigError` per failure.

`load_config()` reads `config/agent.yaml` (or a given file), applies
`FIRSTCRACK_<KEY>` environment overrides (`__` between nested levels), and
validates everything in one pydantic model with `extra="forbid"`. Every
failure becomes one `ConfigError` whose message names the key path, so a typo
is a one-line error, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from firstcrack.agent.config.errors import ConfigError, describe
from firstcrack.agent.config.model import AgentConfig

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "agent.yaml"
ENV_PREFIX = "FIRSTCRACK_"


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from `FIRSTCRACK_A__B=value` variables; values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "FIRSTCRACK_CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another FIRSTCRACK_ variable")
        node[path[-1]] = _parse_scalar(raw)
    return tree


def _parse_scalar(raw: str) -> Any:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, str | int | float | bool) or value is None else raw


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Load, merge (file < environment < overrides) and validate the configuration.

    With `path=None` the default `config/agent.yaml` is used when it exists; a
    path that was asked for explicitly must exist.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("FIRSTCRACK_CONFIG"):
        path = environ["FIRSTCRACK_CONFIG"]
    data: dict[str, Any] = {}
    if path is not None or DEFAULT_CONFIG_PATH.exists():
        file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
        data = _read_yaml(file)
    data = _merge(data, _env_overrides(environ))
    if overrides:
        data = _merge(data, overrides)
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        message, keys = describe(exc)
        raise ConfigError(f"invalid configuration: {message}", keys) from None


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {file} is not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {file}: top level must be a mapping of keys")
    return loaded


def redacted(config: AgentConfig) -> dict[str, Any]:
    """The config as a JSON-ready dict for logging (`run --debug`), with secrets masked."""
    data = config.model_dump(mode="json")
    if data["mqtt"].get("password") is not None:
        data["mqtt"]["password"] = "***"
    if data["dashboard"].get("token") is not None:
        data["dashboard"]["token"] = "***"
    return data
