"""Configurations in files: load a :class:`~swimcore.config.Config` from TOML or JSON, save one.

A file names the preset it starts from and the fields it changes, all at the top level::

    # written by swimcore tune
    preset = "lan"
    probe_interval = 0.5
    probe_timeout = 0.25
    suspicion_mult = 2

``preset`` is optional (``"lan"`` by default).  JSON files (``.json``) hold the same object.
Unknown keys and bad values raise :class:`~swimcore.errors.ConfigError` naming them, as the
config itself does.  :func:`dump_config` writes only the fields that differ from the preset, so
a saved file says what was chosen and nothing else.
"""

from __future__ import annotations

import json
import math
import pathlib
import tomllib
from typing import Any

import attrs

from swimcore.config import Config
from swimcore.errors import ConfigError

PRESETS = ("lan", "wan", "local")

__all__ = ["PRESETS", "config_from_dict", "config_to_toml", "dump_config", "load_config"]


def config_from_dict(data: dict[str, Any]) -> Config:
    """The config a file's parsed contents describe."""
    values = dict(data)
    preset = values.pop("preset", "lan")
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    names = {field.name for field in attrs.fields(Config)}
    unknown = sorted(key for key in values if key not in names)
    if unknown:
        raise ConfigError(f"unknown Config field(s) in file: {', '.join(unknown)}")
    return Config.preset(preset, **values)


def load_config(path: str | pathlib.Path) -> Config:
    """Read the config in ``path`` (TOML, or JSON when the name ends in ``.json``)."""
    file = pathlib.Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: not valid {file.suffix.lstrip('.') or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a table of Config fields")
    return config_from_dict(data)


def closest_preset(config: Config) -> str:
    """The preset from which ``config`` differs in the fewest fields (``lan`` on ties)."""
    return min(PRESETS, key=lambda name: len(_changes(config, name)))


def _changes(config: Config, preset: str) -> dict[str, Any]:
    base = Config.preset(preset)
    return {
        field.name: getattr(config, field.name)
        for field in attrs.fields(Config)
        if getattr(config, field.name) != getattr(base, field.name)
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    raise ConfigError(f"cannot write {type(value).__name__} values to a config file")


def config_to_toml(config: Config, preset: str | None = None, comment: str = "") -> str:
    """``config`` as the TOML text :func:`load_config` reads back (``comment`` on top)."""
    name = preset or closest_preset(config)
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append(f"preset = {json.dumps(name)}")
    lines += [f"{key} = {_toml_value(value)}" for key, value in _changes(config, name).items()]
    return "\n".join(lines) + "\n"


def dump_config(
    config: Config, path: str | pathlib.Path, preset: str | None = None, comment: str = ""
) -> None:
    """Write ``config`` to ``path`` (TOML, or JSON when the name ends in ``.json``)."""
    file = pathlib.Path(path)
    if file.suffix == ".json":
        name = preset or closest_preset(config)
        text = json.dumps({"preset": name, **_changes(config, name)}, indent=2) + "\n"
    else:
        text = config_to_toml(config, preset, comment)
    file.write_text(text, encoding="utf-8")
